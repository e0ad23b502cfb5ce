//! The page: the tweet box, the result, "Is this right?", and this session's history.

use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use crate::api::{self, Feedback, Prediction};
use crate::config::Config;
use crate::monitor::Monitor;
use crate::on_device::OnDeviceModel;
use crate::tweet::{TWEET_LIMIT, char_count, confidence_percent, confidence_text, problem};
use moodwing_protocol::{Label, Verdict};

/// Where a prediction is computed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Computed {
    /// In this browser, by the on-device model's worker: the tweet stays here.
    OnDevice,
    /// By the edge service, which signs its predictions.
    ByEdge,
}

/// How far the on-device model got.
#[derive(Clone, PartialEq)]
enum DeviceModel {
    Loading,
    Ready,
    Unavailable(String),
}

/// A prediction on screen, with the text it was made for.
#[derive(Clone, PartialEq)]
struct Shown {
    text: String,
    prediction: Prediction,
    predicted_at: String,
    computed: Computed,
}

#[derive(Clone, PartialEq)]
enum FeedbackState {
    /// Waiting for Yes or No.
    Asking,
    /// "No" was clicked: an optional comment, then send.
    Explaining,
    Sending,
    Recorded {
        rejected: bool,
    },
    /// Not recorded; the same feedback (same id) can be sent again.
    Failed {
        feedback: Box<Feedback>,
        error: String,
    },
}

#[derive(Clone, PartialEq)]
struct HistoryItem {
    text: String,
    label: Label,
    confidence: u8,
    verdict: Option<&'static str>,
}

#[function_component(App)]
pub fn app() -> Html {
    let config = use_state(|| None::<Result<Config, String>>);
    {
        let config = config.clone();
        use_effect_with((), move |()| {
            wasm_bindgen_futures::spawn_local(async move {
                config.set(Some(api::load_config().await));
            });
        });
    }
    match &*config {
        None => html! { <main class="page"><p class="muted">{ "Loading…" }</p></main> },
        Some(Err(error)) => html! {
            <main class="page"><p class="error" role="alert">{ format!("The page is misconfigured: {error}") }</p></main>
        },
        Some(Ok(config)) if on_monitor_page() => html! { <Monitor config={config.clone()} /> },
        Some(Ok(config)) => html! { <Predictor config={config.clone()} /> },
    }
}

/// `/monitor` (the host serves the page for it: `staticwebapp.config.json`, `scripts/serve_spa.py`).
fn on_monitor_page() -> bool {
    web_sys::window()
        .and_then(|window| window.location().pathname().ok())
        .is_some_and(|path| path.trim_end_matches('/').ends_with("/monitor"))
}

/// Where a prediction's answer goes: the state handles it updates.
#[derive(Clone)]
struct PredictionSink {
    predicting: UseStateHandle<bool>,
    shown: UseStateHandle<Option<Shown>>,
    predict_error: UseStateHandle<Option<String>>,
    feedback: UseStateHandle<FeedbackState>,
    comment: UseStateHandle<String>,
    history: UseStateHandle<Vec<HistoryItem>>,
}

impl PredictionSink {
    fn show(&self, tweet: String, computed: Computed, result: Result<Prediction, String>) {
        match result {
            Ok(prediction) => {
                let mut items = (*self.history).clone();
                items.insert(
                    0,
                    HistoryItem {
                        text: tweet.clone(),
                        label: prediction.label,
                        confidence: confidence_percent(prediction.label, prediction.score),
                        verdict: None,
                    },
                );
                self.history.set(items);
                self.shown.set(Some(Shown {
                    text: tweet,
                    prediction,
                    predicted_at: String::from(js_sys::Date::new_0().to_iso_string()),
                    computed,
                }));
                self.feedback.set(FeedbackState::Asking);
                self.comment.set(String::new());
            }
            Err(error) => self.predict_error.set(Some(error)),
        }
        self.predicting.set(false);
    }
}

#[derive(Properties, PartialEq)]
struct PredictorProps {
    config: Config,
}

#[function_component(Predictor)]
fn predictor(props: &PredictorProps) -> Html {
    let text = use_state(String::new);
    let predicting = use_state(|| false);
    let shown = use_state(|| None::<Shown>);
    let predict_error = use_state(|| None::<String>);
    let feedback = use_state(|| FeedbackState::Asking);
    let comment = use_state(String::new);
    let history = use_state(Vec::<HistoryItem>::new);
    let device = use_state(|| DeviceModel::Loading);
    let device_model = use_state(|| None::<OnDeviceModel>);
    // None: on this device once its model is loaded, the edge service until then.
    let choice = use_state(|| None::<Computed>);
    {
        let (device, device_model) = (device.clone(), device_model.clone());
        use_effect_with((), move |()| {
            let loaded = device.clone();
            let started = OnDeviceModel::start(move |result| {
                loaded.set(match result {
                    Ok(()) => DeviceModel::Ready,
                    Err(error) => DeviceModel::Unavailable(error),
                });
            });
            match started {
                Ok(model) => device_model.set(Some(model)),
                Err(error) => device.set(DeviceModel::Unavailable(error)),
            }
        });
    }
    let computed = match (*choice, &*device) {
        (Some(Computed::ByEdge), _) | (_, DeviceModel::Loading | DeviceModel::Unavailable(_)) => {
            Computed::ByEdge
        }
        (_, DeviceModel::Ready) => Computed::OnDevice,
    };

    let on_input = {
        let text = text.clone();
        Callback::from(move |event: InputEvent| {
            text.set(event.target_unchecked_into::<HtmlTextAreaElement>().value());
        })
    };

    let predict = {
        let (config, text, model) = (props.config.clone(), text.clone(), (*device_model).clone());
        let sink = PredictionSink {
            predicting: predicting.clone(),
            shown: shown.clone(),
            predict_error: predict_error.clone(),
            feedback: feedback.clone(),
            comment: comment.clone(),
            history: history.clone(),
        };
        Callback::from(move |()| {
            if *sink.predicting || problem(&text).is_some() {
                return;
            }
            let (config, tweet, sink) = (config.clone(), (*text).clone(), sink.clone());
            let model = model.clone();
            sink.predicting.set(true);
            sink.predict_error.set(None);
            wasm_bindgen_futures::spawn_local(async move {
                let result = match (computed, model) {
                    (Computed::OnDevice, Some(model)) => model
                        .predict(&tweet)
                        .await
                        .map_err(|e| format!("The on-device model could not score it: {e}")),
                    _ => api::predict(&config, &tweet)
                        .await
                        .map_err(|e| e.to_string()),
                };
                sink.show(tweet, computed, result);
            });
        })
    };

    let send = {
        let (config, feedback, history) = (props.config.clone(), feedback.clone(), history.clone());
        Callback::from(move |to_send: Feedback| {
            let (config, feedback, history) = (config.clone(), feedback.clone(), history.clone());
            feedback.set(FeedbackState::Sending);
            wasm_bindgen_futures::spawn_local(async move {
                // The feedback API accepts feedback only about predictions the edge service signed:
                // an on-device one is countersigned first (the same model gives the same score).
                let signed = if to_send.signed.is_some() {
                    Ok(to_send.clone())
                } else {
                    match api::predict(&config, &to_send.text).await {
                        Ok(edge) => api::countersigned(&to_send, &edge),
                        Err(error) => Err(error.to_string()),
                    }
                };
                let result = match signed {
                    Ok(signed) => api::send_feedback(&config, &signed)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(error) => Err(error),
                };
                match result {
                    Ok(_) => {
                        let rejected = to_send.verdict == Verdict::Rejection;
                        let mut items = (*history).clone();
                        if let Some(latest) = items.first_mut() {
                            latest.verdict = Some(if rejected { "wrong" } else { "right" });
                        }
                        history.set(items);
                        feedback.set(FeedbackState::Recorded { rejected });
                    }
                    Err(error) => feedback.set(FeedbackState::Failed {
                        feedback: Box::new(to_send),
                        error,
                    }),
                }
            });
        })
    };

    let count = char_count(&text);
    let blocked = problem(&text);
    let on_submit = {
        let predict = predict.clone();
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            predict.emit(());
        })
    };
    let on_keydown = {
        let predict = predict.clone();
        Callback::from(move |event: KeyboardEvent| {
            if event.key() == "Enter" && (event.ctrl_key() || event.meta_key()) {
                event.prevent_default();
                predict.emit(());
            }
        })
    };

    html! {
        <main class="page">
            <header>
                <h1>{ "Moodwing" }</h1>
                <p class="muted">{ "Is this tweet good or bad news for Air Paradis?" }</p>
            </header>
            <form class="card" onsubmit={on_submit}>
                <label for="tweet">{ "Tweet" }</label>
                <textarea id="tweet" rows="4" placeholder="@AirParadis my flight was…"
                    value={(*text).clone()} oninput={on_input} onkeydown={on_keydown}
                    aria-describedby="count" />
                <div class="row">
                    <span id="count" class={classes!("count", (count > TWEET_LIMIT).then_some("over"))}
                        aria-live="polite">
                        { format!("{count} / {TWEET_LIMIT}") }
                    </span>
                    <button id="predict" type="submit" disabled={*predicting || blocked.is_some()}
                        title={blocked.clone().unwrap_or_default()}>
                        { if *predicting { "Predicting…" } else { "Predict" } }
                    </button>
                </div>
                if count > TWEET_LIMIT {
                    <p class="error">{ blocked.unwrap_or_default() }</p>
                }
                { mode_switch(computed, &device, &choice) }
            </form>
            if let Some(error) = &*predict_error {
                <p id="error" class="error card" role="alert">
                    { error.clone() }
                    <button type="button" onclick={let p = predict.clone(); move |_| p.emit(())}>{ "Retry" }</button>
                </p>
            }
            if let Some(result) = &*shown {
                { result_view(result, &feedback, &comment, &send) }
            }
            { history_view(&history) }
        </main>
    }
}

/// "Computed on this device / by the edge service", the first offered once its model is loaded.
fn mode_switch(
    computed: Computed,
    device: &DeviceModel,
    choice: &UseStateHandle<Option<Computed>>,
) -> Html {
    let pick = |mode: Computed| {
        let choice = choice.clone();
        Callback::from(move |_: Event| choice.set(Some(mode)))
    };
    let status = match device {
        DeviceModel::Loading => " (loading…)".to_owned(),
        DeviceModel::Ready => " (private: the tweet stays here)".to_owned(),
        DeviceModel::Unavailable(error) => format!(" (unavailable: {error})"),
    };
    html! {
        <fieldset id="mode" class="mode">
            <legend>{ "Computed" }</legend>
            <label>
                <input id="mode-device" type="radio" name="mode" checked={computed == Computed::OnDevice}
                    disabled={*device != DeviceModel::Ready} onchange={pick(Computed::OnDevice)} />
                { "on this device" }<span id="device-status" class="muted small">{ status }</span>
            </label>
            <label>
                <input id="mode-edge" type="radio" name="mode" checked={computed == Computed::ByEdge}
                    onchange={pick(Computed::ByEdge)} />
                { "by the edge service" }
            </label>
        </fieldset>
    }
}

fn result_view(
    shown: &Shown,
    feedback: &UseStateHandle<FeedbackState>,
    comment: &UseStateHandle<String>,
    send: &Callback<Feedback>,
) -> Html {
    let prediction = &shown.prediction;
    let confidence = confidence_percent(prediction.label, prediction.score);
    let make = {
        let (shown, comment) = (shown.clone(), comment.clone());
        move |rejected: bool| {
            api::feedback_about(
                &shown.text,
                &shown.prediction,
                shown.predicted_at.clone(),
                rejected,
                &comment,
            )
        }
    };
    let on_yes = {
        let (send, make) = (send.clone(), make.clone());
        Callback::from(move |_: MouseEvent| send.emit(make(false)))
    };
    let on_no = {
        let feedback = feedback.clone();
        Callback::from(move |_: MouseEvent| feedback.set(FeedbackState::Explaining))
    };
    let on_send_rejection = {
        let (send, make) = (send.clone(), make.clone());
        Callback::from(move |_: MouseEvent| send.emit(make(true)))
    };
    let on_comment = {
        let comment = comment.clone();
        Callback::from(move |event: InputEvent| {
            comment.set(event.target_unchecked_into::<HtmlTextAreaElement>().value());
        })
    };
    let question = match &**feedback {
        FeedbackState::Asking => html! {
            <div class="row">
                <span>{ "Is this right?" }</span>
                <button id="yes" type="button" onclick={on_yes}>{ "Yes" }</button>
                <button id="no" type="button" class="secondary" onclick={on_no}>{ "No" }</button>
            </div>
        },
        FeedbackState::Explaining => html! {
            <div>
                <p>{ format!("So it is {}. Anything to add? (optional)", prediction.label.opposite().as_str()) }</p>
                <textarea id="comment" rows="2" maxlength="500" value={(**comment).clone()} oninput={on_comment}
                    aria-label="Comment" />
                <button id="send-rejection" type="button" onclick={on_send_rejection}>{ "Send" }</button>
            </div>
        },
        FeedbackState::Sending => {
            html! { <p id="feedback-status" class="muted" aria-live="polite">{ "Sending…" }</p> }
        }
        FeedbackState::Recorded { rejected } => html! {
            <p id="feedback-status" class="ok" aria-live="polite">
                { if *rejected { "Recorded: thank you, this helps us improve the model." } else { "Recorded: thank you!" } }
            </p>
        },
        FeedbackState::Failed {
            feedback: failed,
            error,
        } => {
            let retry = {
                let (send, failed) = (send.clone(), failed.clone());
                Callback::from(move |_: MouseEvent| send.emit((*failed).clone()))
            };
            html! {
                <p id="feedback-status" class="error" role="alert">
                    { format!("Not recorded. {error}") }
                    <button id="retry" type="button" onclick={retry}>{ "Retry" }</button>
                </p>
            }
        }
    };
    html! {
        <section id="result" class="card" aria-live="polite">
            <p>
                <span id="label" class={classes!("label", prediction.label.as_str())}>{ prediction.label.as_str() }</span>
                <span id="confidence-text" class="muted">
                    { format!(" {}", confidence_text(prediction.label, prediction.score, prediction.threshold)) }
                </span>
            </p>
            <div class="bar" role="meter" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow={confidence.to_string()} aria-label="Confidence">
                <div id="confidence" class={classes!("fill", prediction.label.as_str())}
                    style={format!("width: {confidence}%")} />
            </div>
            <p class="muted small">
                <span id="model">{ format!("{} v{}", prediction.model.name, prediction.model.version) }</span>
                { " · " }
                <span id="latency">{ format!("{:.1} ms", prediction.latency_ms) }</span>
                { " · " }
                <span id="where">{ match shown.computed {
                    Computed::OnDevice => "computed on this device",
                    Computed::ByEdge => "computed by the edge service",
                } }</span>
            </p>
            { question }
        </section>
    }
}

fn history_view(history: &[HistoryItem]) -> Html {
    if history.is_empty() {
        return html! {};
    }
    html! {
        <section id="history" class="card">
            <h2>{ "This session" }</h2>
            <ul>
                { for history.iter().map(|item| html! {
                    <li>
                        <span class={classes!("label", item.label.as_str())}>{ format!("{} {}%", item.label.as_str(), item.confidence) }</span>
                        { " " }
                        <span class="muted">{ item.verdict.map(|v| format!("({v}) ")).unwrap_or_default() }</span>
                        <span class="text">{ item.text.clone() }</span>
                    </li>
                }) }
            </ul>
        </section>
    }
}
