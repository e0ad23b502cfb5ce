import pytest

from moodwing_training.normalize import normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("@united thanks!", "@user thanks!"),
        ("@AmericanAir @JetBlue_2 both late", "@user @user both late"),
        ("see https://t.co/AbC123 and http://x.io/a?b=1 now", "see http and http now"),
        ("www.example.com/page is down", "http is down"),
        ("HTTPS://T.CO/X", "http"),
        ("HTTP\u017f://T.CO/X and @a1@b", "http and @user@user"),  # the long s folds to s
        ("delays &amp; lost bags &lt;3 &quot;great&quot; &#39;ok&#39;", "delays & lost bags <3 \"great\" 'ok'"),
        ("&amp;amp; once", "&amp; once"),
        ("soooooo goooood!!!!!", "soo good!!"),
        ("aa bb stays", "aa bb stays"),
        ("  many\t\nspaces\u00a0\u3000here  ", "many spaces here"),
        ("emoji 😡😡😡😡 kept", "emoji 😡😡 kept"),
        ("", ""),
        ("\x1c", "\x1c"),  # not Unicode white space: kept, as the Rust side does
    ],
)
def test_rules(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_is_idempotent_on_real_tweets(corpus) -> None:
    for tweet in corpus[:2000]:
        once = normalize(tweet.text)
        assert normalize(once) == once
