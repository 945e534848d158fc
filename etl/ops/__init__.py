"""Operations: the run lock, lake maintenance and the helpers around unattended runs."""
