//! `moodwing-cloud-api`: serve the feedback API; export the outbox when App Insights is configured.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use moodwing_cloud_api::limits::{RateLimits, forget_idle_clients};
use moodwing_cloud_api::routes::{AppState, RefusalCounts, router};
use moodwing_cloud_api::store::Location;
use moodwing_cloud_api::{Config, Store, exporter};
use tokio::sync::Notify;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Config::from_env()?;
    let store_name = match &config.store {
        Location::Sqlite(path) => format!("SQLite {}", path.display()),
        // Never the URL itself: it may hold a password.
        Location::Postgres { .. } => "PostgreSQL (MOODWING_DATABASE_URL)".to_owned(),
    };
    let store = {
        let location = config.store.clone();
        tokio::task::spawn_blocking(move || Store::open(&location))
            .await?
            .with_context(|| format!("opening the feedback store: {store_name}"))?
    };
    let new_feedback = Arc::new(Notify::new());

    let exporting = match &config.connection_string {
        Some(connection_string) => {
            let app_insights =
                exporter::app_insights(connection_string, config.ingestion_ca.as_deref())?;
            tokio::spawn(exporter::run_outbox(
                store.clone(),
                app_insights,
                config.export_interval,
                new_feedback.clone(),
            ));
            tracing::info!("exporting feedback to Application Insights");
            true
        }
        None => {
            tracing::warn!(
                "APPLICATIONINSIGHTS_CONNECTION_STRING is not set: feedback is stored in {} and logged \
                 here only; it stays in the outbox until a connection string is set",
                store_name
            );
            false
        }
    };

    if config.signatures.allow_unsigned {
        tracing::warn!(
            "MOODWING_ALLOW_UNSIGNED=true: feedback without a signature is accepted (local \
             development only; forged feedback cannot be told apart)"
        );
    }
    let limits = Arc::new(RateLimits::new(&config.limits));
    tokio::spawn(forget_idle_clients(limits.clone()));
    let state = AppState {
        store,
        alert: config.alert,
        new_feedback,
        exporting,
        signatures: Arc::new(config.signatures.clone()),
        limits,
        refusals: Arc::new(RefusalCounts::default()),
        operator_token: config.operator_token.as_deref().map(Arc::from),
    };
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("listening on {}", config.addr))?;
    tracing::info!(
        "moodwing-cloud-api on http://{} (store {}, alert: {} rejections in {}s)",
        listener.local_addr()?,
        store_name,
        config.alert.threshold,
        config.alert.window.as_secs()
    );
    let app = router(state, &config.allowed_origins);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
