//! `moodwing radar`: score a stream of tweets about the customer and flag bad-buzz suspicions.

use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use moodwing_edge_model::{Bundle, Classifier};
use moodwing_radar::{Rule, detect, read_tweets, report, score_all, send, windows};

#[derive(Parser)]
#[command(name = "moodwing", about = "Moodwing's command-line tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score a stream of tweets per time window and flag the windows where negative tweets jump
    Radar(RadarArgs),
}

#[derive(Args)]
struct RadarArgs {
    /// Tweets as NDJSON or CSV (`id`, `time`, `text`); `-` or nothing: standard input
    input: Option<PathBuf>,
    /// A model bundle folder (default: the served BiLSTM, built into this binary)
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long, default_value_t = 15)]
    window_minutes: i64,
    /// Windows before each one that make its baseline
    #[arg(long, default_value_t = Rule::default().baseline)]
    baseline: usize,
    /// Fewest baseline windows before anything can be flagged
    #[arg(long, default_value_t = Rule::default().min_history)]
    min_history: usize,
    /// Robust z-score from which a window is flagged
    #[arg(long, default_value_t = Rule::default().z)]
    z: f64,
    /// Fewest negative tweets in a flagged window
    #[arg(long, default_value_t = Rule::default().min_negatives)]
    min_negatives: u64,
    /// Most negative tweets shown for each flagged window
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Scoring threads (default: every core)
    #[arg(long)]
    threads: Option<usize>,
    /// Send the windows and suspicions to this cloud API (e.g. `http://127.0.0.1:8081/api`) with
    /// the operator token from `MOODWING_OPERATOR_TOKEN`: the monitor page shows them, and each new
    /// suspicion becomes a `bad_buzz_suspected` event in Application Insights
    #[arg(long)]
    report_to: Option<String>,
    /// The stream's name in the report
    #[arg(long, default_value = "tweets")]
    source: String,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Radar(args) => radar(args),
    }
}

fn radar(args: RadarArgs) -> anyhow::Result<()> {
    // Checked before the scoring, not after it.
    let report_to = match &args.report_to {
        None => None,
        Some(api) => {
            let token = std::env::var("MOODWING_OPERATOR_TOKEN")
                .context("--report-to needs the operator token in MOODWING_OPERATOR_TOKEN")?;
            Some((api.clone(), token))
        }
    };
    let tweets = match args.input.as_deref() {
        None => read_tweets(std::io::stdin().lock()),
        Some(path) if path.as_os_str() == "-" => read_tweets(std::io::stdin().lock()),
        Some(path) => {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            read_tweets(BufReader::new(file))
        }
    }
    .context("reading the tweets")?;
    let bundle = match &args.model {
        Some(dir) => {
            Bundle::from_dir(dir).with_context(|| format!("the bundle in {}", dir.display()))?
        }
        None => Bundle::from_parts(
            include_bytes!("../../edge-model/models/lstm/model.json"),
            include_bytes!("../../edge-model/models/lstm/model.onnx").to_vec(),
            include_bytes!("../../edge-model/models/lstm/tokenizer.json").to_vec(),
        )?,
    };
    let classifier = Classifier::for_batches(bundle)?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));

    let progress = if std::io::stderr().is_terminal() {
        ProgressBar::new(tweets.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} tweets scored ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let total = tweets.len();
    let (scored, refused) = score_all(&classifier, tweets, threads, &|n| progress.inc(n))
        .context("scoring the tweets")?;
    let took = started.elapsed().as_secs_f64();
    progress.finish_and_clear();

    let rule = Rule {
        baseline: args.baseline,
        min_history: args.min_history,
        z: args.z,
        min_negatives: args.min_negatives,
    };
    let windows = windows(&scored, args.window_minutes * 60_000, args.top);
    let suspicions = detect(&windows, &rule);
    for (index, window) in windows.iter().enumerate() {
        let start = chrono::DateTime::from_timestamp_millis(window.start_ms).map_or_else(
            || window.start_ms.to_string(),
            |t| t.format("%Y-%m-%d %H:%M").to_string(),
        );
        println!(
            "{start}  {:6} tweets  {:6} negative ({:5.1}%)",
            window.volume,
            window.negatives,
            100.0 * window.negative_share()
        );
        if let Some(suspicion) = suspicions.iter().find(|s| s.window == index) {
            println!(
                "  BAD BUZZ SUSPECTED: negative volume z = {:.1}, share z = {:.1} (rule: {rule})",
                suspicion.z_volume, suspicion.z_share
            );
            for (score, id, text) in &window.most_negative {
                println!("    {score:.3}  {id}  {}", text.replace('\n', " "));
            }
        }
    }
    eprintln!(
        "{} tweets scored in {took:.2} s ({:.0} tweets/s on {threads} threads), {refused} refused; \
         {} windows of {} minutes, {} flagged",
        total - refused,
        (total - refused) as f64 / took.max(1e-9),
        windows.len(),
        args.window_minutes,
        suspicions.len()
    );
    if let Some((api, token)) = report_to {
        let window_secs = u64::try_from(args.window_minutes * 60).context("--window-minutes")?;
        let report = report(&args.source, window_secs, &windows, &suspicions, &rule);
        let receipt = send(&report, &api, &token)?;
        eprintln!(
            "reported to {api}: {} windows, {} new suspicions",
            receipt.windows, receipt.new_suspicions
        );
    }
    Ok(())
}
