//! The allocator of the on-device runtime: the system one, but while the model is being built,
//! what is freed is zeroed first.
//!
//! The worker keeps a copy of the memory once the model is built, and the next visit reads it
//! back before anything else can start. Building frees far more than it keeps (the bundle's bytes,
//! the decoded protobuf, tract's intermediate graphs, the tokenizer's JSON); zeroed, those
//! stretches are left out of the copy. Only while building: zeroing every free made each
//! prediction ~50 % slower.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

pub struct ZeroingAllocator {
    zeroing: AtomicBool,
}

impl ZeroingAllocator {
    pub const fn new() -> Self {
        Self {
            zeroing: AtomicBool::new(false),
        }
    }

    /// Run `build` with every free zeroed.
    pub fn zeroing_frees<T>(&self, build: impl FnOnce() -> T) -> T {
        self.zeroing.store(true, Ordering::Relaxed);
        let built = build();
        self.zeroing.store(false, Ordering::Relaxed);
        built
    }
}

// SAFETY: every call is passed on to `System` with the same pointer and layout; `dealloc` only
// writes inside the block it is about to free, which the caller owns until then.
unsafe impl GlobalAlloc for ZeroingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe {
            if self.zeroing.load(Ordering::Relaxed) {
                ptr.write_bytes(0, layout.size());
            }
            System.dealloc(ptr, layout);
        }
    }
    // `realloc` is the trait's default: alloc, copy, then the `dealloc` above.
}
