"""Check that the on-device runtime's state is its memory and its table, nothing else.

The on-device worker (web-ui/ondevice/worker.js) restores a built model into a fresh instance by
writing a copy of the memory and growing the externref table. That is the instance's whole state
only while its one mutable global is the stack pointer (back at its start between calls): a
second one (thread-local storage with atomics, a future toolchain's bookkeeping) would not be
restored, so the build stops here instead.

    python3 scripts/check_restorable.py <module.wasm>
"""

import sys
from pathlib import Path

GLOBAL_SECTION = 6
ALLOWED_MUTABLE_GLOBALS = 1  # __stack_pointer


def leb128(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def constant_end(data: bytes, at: int) -> int:
    """Where a global's initialiser (one constant instruction, then `end`) ends."""
    opcode, at = data[at], at + 1
    if opcode in (0x41, 0x42, 0x23):  # i32.const, i64.const, global.get: one LEB128 immediate
        _, at = leb128(data, at)
    elif opcode in (0x43, 0x44):  # f32.const, f64.const
        at += 4 if opcode == 0x43 else 8
    else:
        raise ValueError(f"global initialiser opcode {opcode:#x} not understood")
    if data[at] != 0x0B:
        raise ValueError("global initialiser longer than one constant")
    return at + 1


def mutable_globals(data: bytes) -> int:
    """How many globals the module defines as mutable (imported globals: none in ours)."""
    if data[:4] != b"\0asm":
        raise ValueError("not a WebAssembly module")
    at = 8
    while at < len(data):
        section, at = data[at], at + 1
        size, at = leb128(data, at)
        if section == GLOBAL_SECTION:
            count, entry = leb128(data, at)
            mutable = 0
            for _ in range(count):
                mutable += data[entry + 1]  # value type, then 0 (const) or 1 (var)
                entry = constant_end(data, entry + 2)
            return mutable
        at += size
    return 0


def main() -> None:
    path = Path(sys.argv[1])
    mutable = mutable_globals(path.read_bytes())
    if mutable != ALLOWED_MUTABLE_GLOBALS:
        sys.exit(
            f"{path}: {mutable} mutable globals, expected {ALLOWED_MUTABLE_GLOBALS} (the stack pointer): "
            "the on-device worker's restore of a built instance would miss the others"
        )
    print(f"{path.name}: one mutable global (the stack pointer): restorable from memory and table")


if __name__ == "__main__":
    main()
