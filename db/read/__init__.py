"""The catalog's read side: plain typed records for jobs, progress, failures, artifacts,
subsets (with members, coordinates and cells), files and samples. The CLI reads through it, and
so will the web page; every function takes a session and raises NotFoundError for a missing job,
subset, file or sample. Queries in the query language are `run_query` (db.query)."""

from db.query import QueryResult, run_query
from db.read.jobs import (
    ArtifactRecord,
    FailureRecord,
    JobProgress,
    JobRecord,
    StageCounts,
    artifacts,
    failures,
    get_job,
    job_progress,
    jobs_named,
    list_jobs,
    stage_counts,
)
from db.read.media import (
    FileRecord,
    SampleRecord,
    StoredFile,
    files,
    get_file,
    get_sample,
    samples,
    stored_files,
)
from db.read.subsets import MemberRecord, SubsetRecord, get_subset, members, subsets

__all__ = [
    "ArtifactRecord",
    "FailureRecord",
    "FileRecord",
    "JobProgress",
    "JobRecord",
    "MemberRecord",
    "QueryResult",
    "SampleRecord",
    "StageCounts",
    "StoredFile",
    "SubsetRecord",
    "artifacts",
    "failures",
    "files",
    "get_file",
    "get_job",
    "get_sample",
    "get_subset",
    "job_progress",
    "jobs_named",
    "list_jobs",
    "members",
    "run_query",
    "samples",
    "stage_counts",
    "stored_files",
    "subsets",
]
