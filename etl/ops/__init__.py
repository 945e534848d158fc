"""Operations: maintenance of the lake and the helpers around unattended runs."""
