"""A config without its devices: each device becomes an in-memory entry
(`NAME_in :: Idle`, whose output the fuzzer pushes into) and a sink
(`NAME :: Discard`, whose count is what left by that device)."""
from __future__ import annotations

import re

_DEVICE_CLASSES = ("KernelTap", "KernelTun", "FromDevice", "ToDevice", "TunDevice", "Socket")


def without_devices(text: str, devices: list[str]) -> str:
    """The config `text` with each named device replaced; ControlSocket lines removed.
    Raises ValueError when a device is not declared as expected."""
    text = re.sub(r"^\s*(\w+\s*::\s*)?ControlSocket\(.*?\);", "", text, flags=re.M | re.S)
    for dev in devices:
        decl = rf"^{dev}\s*::\s*(?:{'|'.join(_DEVICE_CLASSES)})\(.*?\);"
        text, k = re.subn(decl, f"{dev} :: Discard; {dev}_in :: Idle;", text,
                          flags=re.M | re.S)
        if k != 1:
            raise ValueError(f"device {dev} is not declared as `{dev} :: DeviceClass(...);`")
        text, k = re.subn(rf"^(\s*){dev}(\s*->)", rf"\1{dev}_in\2", text, flags=re.M)
        if k != 1:
            raise ValueError(f"device {dev} is not used as a source once (`{dev} -> ...`)")
    return text
