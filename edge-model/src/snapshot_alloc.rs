//! The allocator of the runtimes whose built model is copied out of their memory (the Spin
//! component's wizer snapshot, the browser's kept copy): the system allocator, but while a model
//! is being built, what is freed is zeroed.
//!
//! Building frees far more than it keeps (the bundle's bytes, the decoded protobuf, tract's
//! intermediate graphs, the tokenizer's JSON); zeroed, those stretches can be left out of the copy
//! (wizer stores only non-zero memory; the browser's worker leaves out all-zero chunks). Only while
//! building: zeroing every free made each prediction ~50 % slower in the browser.
//!
//! A runtime opts in with `#[global_allocator] static A: ZeroFreedWhileBuilding =
//! ZeroFreedWhileBuilding::new();` and builds inside [`ZeroFreedWhileBuilding::while_building`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

pub struct ZeroFreedWhileBuilding {
    zeroing: AtomicBool,
}

impl ZeroFreedWhileBuilding {
    pub const fn new() -> Self {
        Self {
            zeroing: AtomicBool::new(false),
        }
    }

    /// Run `build` with every block it frees zeroed first.
    pub fn while_building<T>(&self, build: impl FnOnce() -> T) -> T {
        self.zeroing.store(true, Relaxed);
        let built = build();
        self.zeroing.store(false, Relaxed);
        built
    }
}

impl Default for ZeroFreedWhileBuilding {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded to `System`; `dealloc` only writes inside the block it frees.
unsafe impl GlobalAlloc for ZeroFreedWhileBuilding {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.zeroing.load(Relaxed) {
            unsafe { ptr.write_bytes(0, layout.size()) };
            // Without this the optimizer drops the stores to memory that is freed next.
            std::hint::black_box(ptr);
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.zeroing.load(Relaxed) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_contents_through_realloc_while_building_and_after() {
        let allocator = ZeroFreedWhileBuilding::new();
        for building in [true, false] {
            allocator.zeroing.store(building, Relaxed);
            let layout = Layout::from_size_align(64, 8).unwrap();
            unsafe {
                let ptr = allocator.alloc(layout);
                assert!(!ptr.is_null());
                for i in 0..64 {
                    *ptr.add(i) = i as u8 + 1;
                }
                let grown = allocator.realloc(ptr, layout, 4096);
                assert!(!grown.is_null());
                let kept: Vec<u8> = (0..64).map(|i| *grown.add(i)).collect();
                assert_eq!(kept, (1..=64).collect::<Vec<u8>>(), "building: {building}");
                allocator.dealloc(grown, Layout::from_size_align(4096, 8).unwrap());
            }
        }
        assert_eq!(allocator.while_building(|| 7), 7);
        assert!(
            !allocator.zeroing.load(Relaxed),
            "zeroing ends with the build"
        );
    }
}
