//! Embeds a digest of the core's sources, so the Python side can refuse a module built
//! from other sources than the ones beside it (an edited `.rs` file that was not rebuilt).

use std::fs;
use std::path::Path;

/// FNV-1a, 64 bits: `session_fsm/native_core.py` computes the same over the same bytes.
fn fnv1a(bytes: &[u8], mut hash: u64) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn main() {
    let dir = Path::new("session_fsm/native");
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("the core's source directory")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rs"))
        .collect();
    names.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for name in &names {
        hash = fnv1a(name.as_bytes(), hash);
        hash = fnv1a(&[0], hash);
        hash = fnv1a(&fs::read(dir.join(name)).expect("a source file"), hash);
        hash = fnv1a(&[0], hash);
        println!("cargo:rerun-if-changed=session_fsm/native/{name}");
    }
    println!("cargo:rerun-if-changed=session_fsm/native");
    println!("cargo:rustc-env=SESSION_FSM_SOURCE_DIGEST={hash:016x}");
}
