// Catalog page: play buttons are handled by common.js; keep the caret aligned under the error.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const where = document.getElementById("where");
  if (where && document.getElementById("query-error")) where.focus();
});
