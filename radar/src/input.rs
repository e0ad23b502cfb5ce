use std::io::BufRead;

use serde::Deserialize;

/// One tweet of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Tweet {
    pub id: String,
    /// Unix milliseconds.
    pub time_ms: i64,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Deserialize)]
struct Raw {
    id: serde_json::Value,
    time: serde_json::Value,
    text: String,
}

/// Tweets as NDJSON (a JSON object a line) or CSV with a header `id,time,text`: the first
/// non-blank character says which. `time` is RFC 3339 or Unix milliseconds.
pub fn read_tweets(reader: impl BufRead) -> Result<Vec<Tweet>, InputError> {
    let mut lines = reader.lines();
    let mut first = String::new();
    for line in lines.by_ref() {
        let line = line?;
        if !line.trim().is_empty() {
            first = line;
            break;
        }
    }
    if first.trim_start().starts_with('{') {
        let mut tweets = Vec::new();
        for (index, line) in std::iter::once(Ok(first)).chain(lines).enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let raw: Raw = serde_json::from_str(&line).map_err(|e| InputError::Line {
                line: index + 1,
                reason: e.to_string(),
            })?;
            tweets.push(tweet(raw, index + 1)?);
        }
        return Ok(tweets);
    }
    let rest: String = lines
        .map(|l| l.map(|l| l + "\n"))
        .collect::<Result<_, _>>()?;
    let text = format!("{first}\n{rest}");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut tweets = Vec::new();
    for (index, record) in reader.deserialize::<(String, String, String)>().enumerate() {
        let line = index + 2;
        let (id, time, text) = record.map_err(|e| InputError::Line {
            line,
            reason: e.to_string(),
        })?;
        let raw = Raw {
            id: serde_json::Value::String(id),
            time: serde_json::Value::String(time),
            text,
        };
        tweets.push(tweet(raw, line)?);
    }
    Ok(tweets)
}

fn tweet(raw: Raw, line: usize) -> Result<Tweet, InputError> {
    let bad = |reason: &str| InputError::Line {
        line,
        reason: reason.to_owned(),
    };
    let id = match raw.id {
        serde_json::Value::String(id) => id,
        serde_json::Value::Number(id) => id.to_string(),
        _ => return Err(bad("id must be a string or a number")),
    };
    let time_ms = match raw.time {
        serde_json::Value::Number(ms) => ms.as_i64(),
        serde_json::Value::String(time) => time.parse::<i64>().ok().or_else(|| {
            chrono::DateTime::parse_from_rfc3339(&time)
                .ok()
                .map(|t| t.timestamp_millis())
        }),
        _ => None,
    }
    .ok_or_else(|| bad("time must be RFC 3339 or Unix milliseconds"))?;
    Ok(Tweet {
        id,
        time_ms,
        text: raw.text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_and_csv_give_the_same_tweets() {
        let ndjson = "{\"id\": 1, \"time\": \"2026-11-26T08:00:00Z\", \"text\": \"late, again\"}\n\n\
                      {\"id\": \"b\", \"time\": 1795680000000, \"text\": \"fine\"}\n";
        let csv = "id,time,text\n1,2026-11-26T08:00:00Z,\"late, again\"\nb,1795680000000,fine\n";
        let from_json = read_tweets(ndjson.as_bytes()).unwrap();
        assert_eq!(from_json, read_tweets(csv.as_bytes()).unwrap());
        assert_eq!(from_json[0].time_ms, 1_795_680_000_000);
        assert_eq!(from_json[0].text, "late, again");
    }

    #[test]
    fn a_bad_line_is_named() {
        let error = read_tweets("{\"id\": 1, \"time\": \"soon\", \"text\": \"x\"}".as_bytes());
        assert!(error.unwrap_err().to_string().starts_with("line 1"));
    }
}
