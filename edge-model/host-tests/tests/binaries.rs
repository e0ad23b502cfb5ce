//! What the built components' binaries must be, read from the files; and the on-device runtime's.
//!
//! The deployed components ask for their configuration at the `wasi:config` version Spin provides,
//! and their `local/` builds at the one `wasmtime serve` provides.
//!
//! The pre-initialized components' memory images qualify for wasmtime's copy-on-write
//! initialization: a fresh instance (Spin makes one per request) then maps the image instead of
//! copying every data segment in, which cost the BiLSTM 3 ms a request when its image was too
//! sparse. wasmtime's rule (`try_static_init`, wasmtime 48): the initialized range is under
//! `memory_guaranteed_dense_image_size` (16 MiB by default) or under twice the bytes of data in it.

use std::path::Path;

use moodwing_edge_host_tests::{components_dir, workspace_root};

const DENSE_IMAGE_ALWAYS_ALLOWED: u64 = 16 << 20;

/// Reads an unsigned LEB128 number at `at`, advancing it.
fn leb128(bytes: &[u8], at: &mut usize) -> u64 {
    let (mut value, mut shift) = (0u64, 0);
    loop {
        let byte = bytes[*at];
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
        shift += 7;
    }
}

/// Each section of a component or core module: (id, contents).
fn sections(binary: &[u8]) -> Vec<(u8, &[u8])> {
    let mut at = 8; // magic and version/layer
    let mut found = Vec::new();
    while at < binary.len() {
        let id = binary[at];
        at += 1;
        let size = leb128(binary, &mut at) as usize;
        found.push((id, &binary[at..at + size]));
        at += size;
    }
    found
}

/// Every core module of a component, nested components' included (`wac plug` nests the component
/// it plugs into).
fn core_modules(component: &[u8]) -> Vec<&[u8]> {
    let mut modules = Vec::new();
    for (id, contents) in sections(component) {
        match id {
            1 => modules.push(contents),
            4 => modules.extend(core_modules(contents)),
            _ => {}
        }
    }
    modules
}

/// The raw import sections of a component (not of the components nested in it).
fn imports(component: &[u8]) -> Vec<u8> {
    sections(component)
        .into_iter()
        .filter(|(id, _)| *id == 10)
        .flat_map(|(_, contents)| contents.to_vec())
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn read(path: &Path) -> Vec<u8> {
    read_built(path, "scripts/build-components.sh")
}

fn read_built(path: &Path, built_by: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e} (run {built_by})", path.display()))
}

#[test]
fn deployed_components_take_spins_configuration_and_local_ones_wasmtimes() {
    const SPIN: &str = "wasi:config/store@0.2.0-draft-2024-09-27";
    const WASMTIME: &str = "wasi:config/store@0.2.0-rc.1";
    for name in ["sentiment-lstm", "sentiment-bert"] {
        let deployed = imports(&read(&components_dir().join(format!("{name}.wasm"))));
        assert!(
            contains(&deployed, SPIN) && !contains(&deployed, WASMTIME),
            "{name}"
        );
        let local = imports(&read(&components_dir().join(format!("local/{name}.wasm"))));
        assert!(
            contains(&local, WASMTIME) && !contains(&local, SPIN),
            "local/{name}"
        );
    }
}

/// Active data segments of a core module: (offset, length), for `i32.const` offsets.
fn data_segments(module: &[u8]) -> Vec<(u64, u64)> {
    let mut segments = Vec::new();
    for (_, data) in sections(module).into_iter().filter(|(id, _)| *id == 11) {
        let mut at = 0;
        for _ in 0..leb128(data, &mut at) {
            let flags = leb128(data, &mut at);
            if flags == 1 {
                let length = leb128(data, &mut at) as usize; // passive: not in the image
                at += length;
                continue;
            }
            if flags == 2 {
                leb128(data, &mut at); // memory index
            }
            assert_eq!(data[at], 0x41, "an i32.const offset");
            at += 1;
            let offset = leb128(data, &mut at); // wizer's offsets are positive
            assert_eq!(data[at], 0x0b, "end of the offset expression");
            at += 1;
            let length = leb128(data, &mut at);
            segments.push((offset, length));
            at += length as usize;
        }
    }
    segments
}

#[test]
fn both_components_start_from_a_copy_on_write_image() {
    for name in ["sentiment-lstm", "sentiment-bert"] {
        let binary = read(&components_dir().join(format!("{name}.wasm")));
        let image = core_modules(&binary)
            .into_iter()
            .map(data_segments)
            .max_by_key(|segments| segments.iter().map(|(_, length)| length).sum::<u64>())
            .expect("a core module with data");
        let data: u64 = image.iter().map(|(_, length)| length).sum();
        let start = image.iter().map(|(offset, _)| *offset).min().unwrap_or(0);
        let end = image
            .iter()
            .map(|(offset, length)| offset + length)
            .max()
            .unwrap_or(0);
        let range = end - start;
        println!(
            "{name}: {:.2} MB of data over {:.2} MB ({:.2}x)",
            data as f64 / 1e6,
            range as f64 / 1e6,
            range as f64 / data as f64
        );
        assert!(
            range < DENSE_IMAGE_ALWAYS_ALLOWED || range < 2 * data,
            "{name}: {range} bytes initialized for {data} bytes of data: wasmtime would copy them \
             into every fresh instance (lower the build's peak memory, see preinit.rs)"
        );
    }
}

/// Whether each global a core module defines is mutable.
fn mutable_globals(module: &[u8]) -> Vec<bool> {
    let mut mutable = Vec::new();
    for (_, globals) in sections(module).into_iter().filter(|(id, _)| *id == 6) {
        let mut at = 0;
        for _ in 0..leb128(globals, &mut at) {
            mutable.push(globals[at + 1] == 1); // value type, then 0 (const) or 1 (var)
            at += 2;
            // The initialiser: one constant instruction, then `end`.
            match globals[at] {
                0x41 | 0x42 | 0x23 => {
                    at += 1; // i32.const, i64.const, global.get: one LEB128 immediate
                    leb128(globals, &mut at);
                }
                0x43 => at += 5, // f32.const
                0x44 => at += 9, // f64.const
                opcode => panic!("global initialiser opcode {opcode:#x}"),
            }
            assert_eq!(globals[at], 0x0b, "end of the initialiser");
            at += 1;
        }
    }
    mutable
}

#[test]
fn mutable_globals_are_read_from_the_global_section() {
    // Two i32 globals, mutable then not; the first one's initial value, 11, is the `end` byte.
    let globals = [2, 0x7f, 1, 0x41, 0x0b, 0x0b, 0x7f, 0, 0x41, 0x00, 0x0b];
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    module.extend([6, globals.len() as u8]);
    module.extend(globals);
    assert_eq!(mutable_globals(&module), [true, false]);
}

/// The on-device worker (`web-ui/ondevice/worker.js`) restores a built model into a fresh instance
/// of the browser runtime by writing a copy of its memory and growing its externref table. That is
/// the instance's whole state only while its one mutable global is the stack pointer (back at its
/// start between calls): another one (thread-local storage with atomics, a later toolchain's
/// bookkeeping) would not be restored.
#[test]
fn the_on_device_runtime_keeps_its_state_in_memory_and_table() {
    let path = workspace_root().join("web-ui/dist/ondevice/pkg/moodwing_edge_browser_bg.wasm");
    let mutable = mutable_globals(&read_built(&path, "build_web_ui (scripts/lib.sh)"));
    assert_eq!(
        mutable.iter().filter(|m| **m).count(),
        1,
        "{}: mutable globals {mutable:?}, expected only the stack pointer",
        path.display()
    );
}
