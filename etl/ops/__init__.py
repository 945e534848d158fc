"""Operations: the run lock."""
