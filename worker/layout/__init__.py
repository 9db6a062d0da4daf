"""Layout by sound: t-SNE order and map, grid assignment, layout quality. Plain functions."""
