"""The folder's places and its state: the ledger (state.db), locks, the run log, the state folder."""
