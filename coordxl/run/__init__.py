"""The jobs: the pass over the folder, check, daily, weekly, review, archive, the folder's making."""
