//! The monitor page (`/monitor`): rejection rate per model version over the last day, the newest
//! rejections, the alerts, the outbox backlog and the radar's timeline; refreshed every 15 s.
//! The operator's token is asked once and kept for the browser tab (session storage).

use gloo_timers::callback::Interval;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::api::{self, ApiFailure, MonitorSnapshot};
use crate::chart::{self, HEIGHT, WIDTH};
use crate::config::Config;

const TOKEN_KEY: &str = "moodwing-operator-token";
const REFRESH_MS: u32 = 15_000;
const HOURS: u32 = 24;
const BUCKET_MINUTES: u32 = 5;
/// Series colours, one per model version in order of appearance.
const COLOURS: [&str; 4] = ["#0b4f8a", "#d97706", "#7c3aed", "#0f766e"];

fn session() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|window| window.session_storage().ok().flatten())
}

#[derive(Properties, PartialEq)]
pub struct MonitorProps {
    pub config: Config,
}

#[function_component(Monitor)]
pub fn monitor(props: &MonitorProps) -> Html {
    let token = use_state(|| session().and_then(|s| s.get_item(TOKEN_KEY).ok().flatten()));
    let snapshot = use_state(|| None::<MonitorSnapshot>);
    let error = use_state(|| None::<String>);
    let tick = use_state(|| 0_u32);
    {
        let tick = tick.clone();
        use_effect_with((), move |()| {
            let interval = Interval::new(REFRESH_MS, move || tick.set(tick.wrapping_add(1)));
            move || drop(interval)
        });
    }
    {
        let (config, token, snapshot, error) = (
            props.config.clone(),
            token.clone(),
            snapshot.clone(),
            error.clone(),
        );
        use_effect_with(((*token).clone(), *tick), move |(current, _)| {
            if let Some(current) = current.clone() {
                wasm_bindgen_futures::spawn_local(async move {
                    match api::monitor(&config, &current, HOURS, BUCKET_MINUTES).await {
                        Ok(fresh) => {
                            snapshot.set(Some(fresh));
                            error.set(None);
                        }
                        Err(ApiFailure::Refused { status: 401, .. }) => {
                            if let Some(storage) = session() {
                                let _ = storage.remove_item(TOKEN_KEY);
                            }
                            token.set(None);
                            error.set(Some("That operator token was refused.".into()));
                        }
                        Err(failure) => error.set(Some(failure.to_string())),
                    }
                });
            }
        });
    }

    let body = match (&*token, &*snapshot) {
        (None, _) => {
            let token = token.clone();
            let on_token = Callback::from(move |value: String| {
                if let Some(storage) = session() {
                    let _ = storage.set_item(TOKEN_KEY, &value);
                }
                token.set(Some(value));
            });
            html! { <TokenForm {on_token} /> }
        }
        (Some(_), None) => html! { <p class="muted">{ "Loading…" }</p> },
        (Some(_), Some(snapshot)) => snapshot_view(snapshot),
    };
    html! {
        <main class="page wide">
            <header>
                <h1>{ "Moodwing monitor" }</h1>
                <p class="muted">{ "What people say about the predictions, and what the radar sees. " }
                    <a href="/">{ "Back to predictions" }</a></p>
            </header>
            if let Some(error) = &*error {
                <p id="monitor-error" class="error card" role="alert">{ error.clone() }</p>
            }
            { body }
        </main>
    }
}

#[derive(Properties, PartialEq)]
struct TokenFormProps {
    on_token: Callback<String>,
}

#[function_component(TokenForm)]
fn token_form(props: &TokenFormProps) -> Html {
    let input = use_node_ref();
    let on_token = props.on_token.clone();
    let on_submit = {
        let input = input.clone();
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let Some(field) = input.cast::<HtmlInputElement>() else {
                return;
            };
            let value = field.value().trim().to_owned();
            if value.is_empty() {
                return;
            }
            on_token.emit(value);
        })
    };
    html! {
        <form class="card" onsubmit={on_submit}>
            <label for="token">{ "Operator token" }</label>
            <div class="row">
                <input id="token" type="password" ref={input} autocomplete="current-password" />
                <button id="open-monitor" type="submit">{ "Open" }</button>
            </div>
            <p class="muted small">{ "The feedback service's MOODWING_OPERATOR_TOKEN; kept in this tab only." }</p>
        </form>
    }
}

fn snapshot_view(snapshot: &MonitorSnapshot) -> Html {
    let (since, until) = (snapshot.since_ms, snapshot.generated_at_ms);
    let bucket_ms = i64::try_from(snapshot.bucket_secs).unwrap_or(300) * 1000;
    let series = chart::rate_series(&snapshot.feedback, since, until, bucket_ms);
    let rejections: u64 = series.iter().map(|s| s.rejections).sum();
    let feedbacks: u64 = series.iter().map(|s| s.rejections + s.validations).sum();
    let backlog = if snapshot.exporting {
        format!("{} waiting for Application Insights", snapshot.unexported)
    } else {
        format!(
            "{} kept locally (Application Insights not configured)",
            snapshot.unexported
        )
    };
    html! {
        <>
            <section class="card summary">
                <div><strong id="rejections-24h">{ rejections }</strong>
                    <span class="muted">{ format!(" rejections of {feedbacks} feedbacks in 24 h") }</span></div>
                <div><strong id="alerts-count">{ snapshot.alerts.len() }</strong>
                    <span class="muted">{ " alerts fired" }</span></div>
                <div id="backlog" class="muted">{ backlog }</div>
                <div class="muted small">{ format!("updated {} UTC", chart::clock(until)) }</div>
            </section>
            <section class="card">
                <h2>{ "Rejection rate per model version (5-minute buckets, last 24 h, UTC)" }</h2>
                { rate_chart(&series, since, until) }
            </section>
            <section class="card">
                <h2>{ "Radar: tweets and negative tweets per window" }</h2>
                { radar_view(snapshot, since, until) }
            </section>
            <section id="recent" class="card">
                <h2>{ "Newest rejections" }</h2>
                { recent_view(snapshot) }
            </section>
            <section id="alerts" class="card">
                <h2>{ "Alerts fired" }</h2>
                if snapshot.alerts.is_empty() {
                    <p class="muted">{ "None in the last 24 h." }</p>
                } else {
                    <ul>
                        { for snapshot.alerts.iter().map(|alert| html! {
                            <li>{ format!("{} UTC: {} rejections within {} minutes",
                                chart::clock(alert.fired_at_ms), alert.rejections, alert.window_secs / 60) }</li>
                        }) }
                    </ul>
                }
            </section>
        </>
    }
}

fn axis(since: i64, until: i64) -> Html {
    let ticks = (0..=4).map(|i| since + (until - since) * i / 4);
    html! {
        <g class="axis">
            <line x1="0" y1={HEIGHT.to_string()} x2={WIDTH.to_string()} y2={HEIGHT.to_string()} />
            { for ticks.map(|t| {
                let x = chart::x_of(t, since, until);
                html! { <text x={format!("{x:.0}")} y={(HEIGHT + 14.0).to_string()}>{ chart::clock(t) }</text> }
            }) }
        </g>
    }
}

fn rate_chart(series: &[chart::RateSeries], since: i64, until: i64) -> Html {
    if series.is_empty() {
        return html! { <p class="muted">{ "No feedback in the last 24 h." }</p> };
    }
    html! {
        <>
            <svg id="rejection-chart" viewBox={format!("-30 -10 {} {}", WIDTH + 60.0, HEIGHT + 30.0)}
                role="img" aria-label="Rejection rate per model version over the last 24 hours">
                <g class="axis">
                    <text x="-28" y="4">{ "100%" }</text>
                    <text x="-20" y={(HEIGHT / 2.0 + 4.0).to_string()}>{ "50%" }</text>
                    <line x1="0" y1={(HEIGHT / 2.0).to_string()} x2={WIDTH.to_string()} y2={(HEIGHT / 2.0).to_string()} class="grid" />
                </g>
                { axis(since, until) }
                { for series.iter().zip(COLOURS.iter().cycle()).map(|(s, colour)| html! {
                    <g class="series" data-model={s.model.clone()}>
                        <polyline points={s.polyline()} fill="none" stroke={*colour} stroke-width="2" />
                        { for s.points.iter().map(|(x, y, rate, n)| html! {
                            <circle cx={format!("{x:.1}")} cy={format!("{y:.1}")} r="3.5" fill={*colour}>
                                <title>{ format!("{:.0}% of {n}", rate * 100.0) }</title>
                            </circle>
                        }) }
                    </g>
                }) }
            </svg>
            <ul class="legend">
                { for series.iter().zip(COLOURS.iter().cycle()).map(|(s, colour)| html! {
                    <li><span class="swatch" style={format!("background: {colour}")}></span>
                        { format!("{}: {} of {} rejected ({:.0}%)", s.model, s.rejections,
                            s.rejections + s.validations, s.rate().unwrap_or(0.0) * 100.0) }</li>
                }) }
            </ul>
        </>
    }
}

fn radar_view(snapshot: &MonitorSnapshot, since: i64, until: i64) -> Html {
    if snapshot.radar.is_empty() {
        return html! { <p class="muted">{ "No radar report in the last 24 h (moodwing radar --report-to …)." }</p> };
    }
    let bars = chart::radar_bars(&snapshot.radar, since, until);
    let flagged: Vec<_> = snapshot
        .radar
        .iter()
        .filter_map(|stored| stored.window.suspicion.as_ref().map(|s| (stored, s)))
        .collect();
    html! {
        <>
            <svg id="radar-chart" viewBox={format!("-30 -10 {} {}", WIDTH + 60.0, HEIGHT + 30.0)}
                role="img" aria-label="Radar windows: tweets and negative tweets">
                { axis(since, until) }
                { for bars.iter().map(|(x, width, tweets, negatives, flagged)| html! {
                    <g class={classes!("window", flagged.then_some("flagged"))}>
                        <rect x={format!("{x:.1}")} y={format!("{:.1}", HEIGHT - tweets)} width={format!("{width:.1}")} height={format!("{tweets:.1}")} class="tweets" />
                        <rect x={format!("{x:.1}")} y={format!("{:.1}", HEIGHT - negatives)} width={format!("{width:.1}")} height={format!("{negatives:.1}")} class="negatives" />
                    </g>
                }) }
            </svg>
            <p class="legend muted small"><span class="swatch tweets"></span>{ "tweets " }
                <span class="swatch negatives"></span>{ "negative " }
                <span class="swatch flagged"></span>{ "bad buzz suspected" }</p>
            <ul id="suspicions">
                { for flagged.iter().map(|(stored, suspicion)| html! {
                    <li>
                        <strong class="buzz">{ format!("Bad buzz suspected at {} UTC", chart::clock(stored.window.start_ms)) }</strong>
                        { format!(" on {}: {} negative of {} tweets (z {:.1})", stored.source,
                            stored.window.negatives, stored.window.tweets, suspicion.z_volume.max(suspicion.z_share)) }
                        <ul>
                            { for suspicion.most_negative.iter().map(|tweet| html! {
                                <li class="text">{ tweet.text.clone() }</li>
                            }) }
                        </ul>
                    </li>
                }) }
            </ul>
        </>
    }
}

fn recent_view(snapshot: &MonitorSnapshot) -> Html {
    if snapshot.recent_rejections.is_empty() {
        return html! { <p class="muted">{ "No rejection yet." }</p> };
    }
    html! {
        <table>
            <thead><tr><th>{ "UTC" }</th><th>{ "Tweet" }</th><th>{ "Predicted → corrected" }</th><th>{ "Comment" }</th><th>{ "Model" }</th></tr></thead>
            <tbody>
                { for snapshot.recent_rejections.iter().map(|row| {
                    let feedback = &row.feedback;
                    let corrected = feedback.corrected_label.unwrap_or(feedback.predicted_label.opposite());
                    html! {
                        <tr>
                            <td>{ chart::clock(row.received_at_ms) }</td>
                            <td class="text">{ feedback.text.clone() }</td>
                            <td>{ format!("{} → {}", feedback.predicted_label.as_str(), corrected.as_str()) }</td>
                            <td>{ feedback.comment.clone().unwrap_or_default() }</td>
                            <td>{ format!("{} v{}", feedback.model.name, feedback.model.version) }</td>
                        </tr>
                    }
                }) }
            </tbody>
        </table>
    }
}
