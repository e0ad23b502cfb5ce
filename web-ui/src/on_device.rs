//! The on-device model, as the page talks to it: a module Web Worker (`/ondevice/worker.js`) that
//! runs the edge core compiled to WebAssembly, so typing never waits for it and the tweet stays on
//! the device. Requests and answers are matched by id.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::oneshot;
use moodwing_protocol::Prediction;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

const WORKER: &str = "/ondevice/worker.js";
/// Where `index.html` leaves the worker it started before the app loaded.
const EARLY_WORKER: &str = "moodwingOnDevice";

type Pending = Rc<RefCell<HashMap<u32, oneshot::Sender<Result<Prediction, String>>>>>;

/// What the worker answers (see `worker.js`).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Reply {
    Ready,
    Failed {
        error: String,
    },
    Prediction {
        id: u32,
        prediction: Option<Prediction>,
        error: Option<String>,
    },
}

/// The worker, loading or loaded. Cloning shares it.
#[derive(Clone)]
pub struct OnDeviceModel {
    worker: Worker,
    pending: Pending,
    next_id: Rc<Cell<u32>>,
    _on_message: Rc<Closure<dyn FnMut(MessageEvent)>>,
    _on_error: Rc<Closure<dyn FnMut(web_sys::Event)>>,
}

impl PartialEq for OnDeviceModel {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.pending, &other.pending)
    }
}

impl OnDeviceModel {
    /// Take over the worker `index.html` started (or start one) and ask for its bundle; `on_load`
    /// is told whether it is ready.
    pub fn start(on_load: impl Fn(Result<(), String>) + 'static) -> Result<Self, String> {
        let (worker, failed_early) = match early_worker() {
            Some(worker) => {
                let failed = js_sys::Reflect::get(&worker, &"failed".into())
                    .is_ok_and(|failed| failed.is_truthy());
                (worker, failed)
            }
            None => {
                let options = WorkerOptions::new();
                options.set_type(WorkerType::Module);
                let worker = Worker::new_with_options(WORKER, &options).map_err(describe)?;
                (worker, false)
            }
        };
        let pending: Pending = Rc::default();
        let on_load: Rc<dyn Fn(Result<(), String>)> = Rc::new(on_load);
        // A worker whose script or wasm cannot load (offline on a first visit, an old browser).
        let did_not_start = "its worker did not start";
        if failed_early {
            on_load(Err(did_not_start.to_owned()));
        }
        let on_error = {
            let on_load = on_load.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
                on_load(Err(did_not_start.to_owned()));
            })
        };
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let on_message = {
            let pending = pending.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let reply = js_sys::JSON::stringify(&event.data())
                    .ok()
                    .and_then(|json| json.as_string())
                    .and_then(|json| serde_json::from_str::<Reply>(&json).ok());
                match reply {
                    Some(Reply::Ready) => on_load(Ok(())),
                    Some(Reply::Failed { error }) => on_load(Err(error)),
                    Some(Reply::Prediction {
                        id,
                        prediction,
                        error,
                    }) => {
                        if let Some(answer) = pending.borrow_mut().remove(&id) {
                            let result = prediction
                                .ok_or_else(|| error.unwrap_or_else(|| "no answer".to_owned()));
                            let _ = answer.send(result);
                        }
                    }
                    None => {}
                }
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // Loading twice is loading once: an early worker answers with the load it began.
        worker
            .post_message(&message(&[("type", "load".into())]))
            .map_err(describe)?;
        Ok(Self {
            worker,
            pending,
            next_id: Rc::default(),
            _on_message: Rc::new(on_message),
            _on_error: Rc::new(on_error),
        })
    }

    /// The prediction of `text`, computed in the worker (its `latency_ms` is the worker's time).
    pub async fn predict(&self, text: &str) -> Result<Prediction, String> {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let (answer, answered) = oneshot::channel();
        self.pending.borrow_mut().insert(id, answer);
        let request = message(&[
            ("type", "predict".into()),
            ("id", id.into()),
            ("text", text.into()),
        ]);
        self.worker.post_message(&request).map_err(describe)?;
        answered
            .await
            .map_err(|_| "the on-device model stopped".to_owned())?
    }
}

/// The worker `index.html` started while the app was still downloading, taken once.
fn early_worker() -> Option<Worker> {
    let window = web_sys::window()?;
    let key = JsValue::from_str(EARLY_WORKER);
    let worker = js_sys::Reflect::get(&window, &key)
        .ok()?
        .dyn_into::<Worker>()
        .ok()?;
    let _ = js_sys::Reflect::delete_property(&window, &key);
    Some(worker)
}

fn message(fields: &[(&str, JsValue)]) -> JsValue {
    let object = js_sys::Object::new();
    for (key, value) in fields {
        let _ = js_sys::Reflect::set(&object, &(*key).into(), value);
    }
    object.into()
}

fn describe(error: JsValue) -> String {
    error
        .as_string()
        .or_else(|| {
            error
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| "the on-device model could not start".to_owned())
}
