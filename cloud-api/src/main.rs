//! `moodwing-cloud-api`: serve the feedback API; export the outbox when App Insights is configured.

use std::sync::Arc;

use anyhow::Context;
use moodwing_cloud_api::routes::{AppState, router};
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
    let store = Store::open(&config.database)
        .with_context(|| format!("opening the feedback store {}", config.database.display()))?;
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
                config.database.display()
            );
            false
        }
    };

    let state = AppState {
        store,
        alert: config.alert,
        new_feedback,
        exporting,
    };
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("listening on {}", config.addr))?;
    tracing::info!(
        "moodwing-cloud-api on http://{} (store {}, alert: {} rejections in {}s)",
        listener.local_addr()?,
        config.database.display(),
        config.alert.threshold,
        config.alert.window.as_secs()
    );
    axum::serve(listener, router(state, &config.allowed_origins))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
