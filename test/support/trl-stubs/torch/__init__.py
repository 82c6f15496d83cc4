"""Stand-in for torch: no GPU."""


class cuda:  # noqa: N801
    @staticmethod
    def is_available():
        return False

    @staticmethod
    def is_bf16_supported():
        return False
