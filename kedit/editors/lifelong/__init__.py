"""The lifelong family's shared core: editors that keep the base weights and add something beside
them (GRACE's codebook, WISE's side memory, T-Patcher's neurons), their hooks and their training."""
