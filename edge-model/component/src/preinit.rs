//! Pre-initialization: `wasmtime wizer` calls `wizer-initialize` once at build time and snapshots
//! the memory it leaves, so every instance starts with the model built and used once.
//!
//! While the model is built, freed memory is zeroed: wizer stores only non-zero memory, so the
//! files, the decoded protobuf and tract's intermediate graphs stay out of the component. What
//! stays must also be dense enough for wasmtime to map each instance's memory copy-on-write from
//! the module's image (initialized range under 16 MiB, or under twice the data in it); otherwise
//! every fresh instance copies the data in. `host-tests` checks both components for that.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

static ZEROING: AtomicBool = AtomicBool::new(false);

struct ZeroFreedWhileInitializing;

#[global_allocator]
static ALLOCATOR: ZeroFreedWhileInitializing = ZeroFreedWhileInitializing;

// SAFETY: every call is forwarded to `System`; `dealloc` only writes inside the block it frees.
unsafe impl GlobalAlloc for ZeroFreedWhileInitializing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ZEROING.load(Relaxed) {
            unsafe { ptr.write_bytes(0, layout.size()) };
            // Without this the optimizer drops the stores to memory that is freed next.
            std::hint::black_box(ptr);
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !ZEROING.load(Relaxed) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Move instead of resizing in place, so the old block goes through `dealloc`.
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let new_ptr = unsafe { System.alloc(new_layout) };
        if !new_ptr.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new_ptr
    }
}

wit_bindgen::generate!({
    inline: "package moodwing:preinit; world preinit { export wizer-initialize: func(); }",
    world: "preinit",
});

struct Preinit;

impl Guest for Preinit {
    fn wizer_initialize() {
        ZEROING.store(true, Relaxed);
        let model = super::Embedded::default();
        // A trap fails the build: a component without its model must not be shipped.
        if let Err(reason) = super::Model::classifier(&model) {
            panic!("pre-initialization could not build the model: {reason:?}");
        }
        // One prediction through the API, so what is built lazily on first use (the parsed model
        // card, the normalisation regexes, first-run state) is in the snapshot too, not redone by
        // every fresh instance.
        let warm_up = super::ApiRequest {
            method: "POST",
            path: &format!("{}/predict", super::embedded::BASE),
            content_type: Some("application/json"),
            body: br#"{"text": "warm up"}"#,
        };
        drop(super::handle(
            &model,
            &moodwing_edge_api::Unsigned,
            super::embedded::BASE,
            warm_up,
        ));
        ZEROING.store(false, Relaxed);
    }
}

export!(Preinit);
