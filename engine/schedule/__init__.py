"""argv -> config -> launch: BaseScheduler().schedule() is a train script's whole body."""


def __getattr__(name):
    if name == "BaseScheduler":
        from .scheduler import BaseScheduler

        return BaseScheduler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BaseScheduler"]
