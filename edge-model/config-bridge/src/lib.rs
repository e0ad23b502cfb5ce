//! Forwards `wasi:config/store` between its two versions: the edge component imports the one
//! wasmtime 48 provides (so that `wasmtime wizer` can pre-initialize it), Spin provides the other.
//! `scripts/build-components.sh` plugs the `to-spin` build into the pre-initialized component (the
//! component deployed), and the `from-spin` build into that one for `wasmtime serve`, so local runs
//! and tests run the deployed component itself.

#[cfg(not(feature = "from-spin"))]
mod bridge {
    wit_bindgen::generate!({ world: "to-spin", path: "wit", generate_all });

    use exports::wasi::config0_2_0_rc_1::store::{Error as Exported, Guest};
    use wasi::config0_2_0_draft_2024_09_27::store::{self as imported, Error as Imported};

    super::forward!();
    export!(Bridge);
}

#[cfg(feature = "from-spin")]
mod bridge {
    wit_bindgen::generate!({ world: "from-spin", path: "wit", generate_all });

    use exports::wasi::config0_2_0_draft_2024_09_27::store::{Error as Exported, Guest};
    use wasi::config0_2_0_rc_1::store::{self as imported, Error as Imported};

    super::forward!();
    export!(Bridge);
}

/// The same forwarding in both directions: the two versions differ only in name.
macro_rules! forward {
    () => {
        struct Bridge;

        impl Guest for Bridge {
            fn get(key: String) -> Result<Option<String>, Exported> {
                imported::get(&key).map_err(convert)
            }

            fn get_all() -> Result<Vec<(String, String)>, Exported> {
                imported::get_all().map_err(convert)
            }
        }

        fn convert(error: Imported) -> Exported {
            match error {
                Imported::Upstream(reason) => Exported::Upstream(reason),
                Imported::Io(reason) => Exported::Io(reason),
            }
        }
    };
}
use forward;
