//! Pre-initialization: `wasmtime wizer` calls `wizer-initialize` once at build time and snapshots
//! the memory it leaves, so every instance starts with the model built and used once.
//!
//! While the model is built, freed memory is zeroed: wizer stores only non-zero memory, so the
//! files, the decoded protobuf and tract's intermediate graphs stay out of the component. What
//! stays must also be dense enough for wasmtime to map each instance's memory copy-on-write from
//! the module's image (initialized range under 16 MiB, or under twice the data in it); otherwise
//! every fresh instance copies the data in. `host-tests` checks both components for that.

use moodwing_edge_model::snapshot_alloc::ZeroFreedWhileBuilding;

#[global_allocator]
static ALLOCATOR: ZeroFreedWhileBuilding = ZeroFreedWhileBuilding::new();

wit_bindgen::generate!({
    inline: "package moodwing:preinit; world preinit { export wizer-initialize: func(); }",
    world: "preinit",
});

struct Preinit;

impl Guest for Preinit {
    fn wizer_initialize() {
        ALLOCATOR.while_building(|| {
            let model = super::Embedded::default();
            // A trap fails the build: a component without its model must not be shipped.
            if let Err(reason) = super::Model::classifier(&model) {
                panic!("pre-initialization could not build the model: {reason:?}");
            }
            // One prediction through the API, so what is built lazily on first use (the parsed
            // model card, first-run state) is in the snapshot too, not
            // redone by every fresh instance.
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
        });
    }
}

export!(Preinit);
