"""The NUT lexer against parseconf.c's behaviour, plus fuzzing."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.nutconf.lexer import (
    UNBALANCED_HASH,
    Lexer,
    LexError,
    encode,
    join_words,
    quote,
    split_text,
    split_words,
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a b  c", ["a", "b", "c"]),
        ("\ta\tb ", ["a", "b"]),
        ('desc = "Main UPS"', ["desc", "=", "Main UPS"]),
        ("a=b", ["a", "=", "b"]),
        ("a =b", ["a", "=", "b"]),
        ("==", ["=", "="]),
        ('x ""', ["x", ""]),
        (r"a\ b", ["a b"]),
        (r'"a \"b\" \\ c"', ['a "b" \\ c']),
        ('"x=y"', ["x=y"]),
        (r"a\=b", ["a=b"]),
        ("a # comment", ["a"]),
        ("a#comment", ["a"]),
        (r'"\#"', ["#"]),
        ('"a"b', ["a", "b"]),
        ("caf\u00e9", ["caf"]),
    ],
)
def test_words_like_parseconf(text: str, words: list[str]) -> None:
    assert split_words(text) == words


def test_unescaped_hash_in_quotes_is_an_error_with_its_line() -> None:
    lines = split_text('ok 1\ndesc = "a # b"\nnext 2\n')
    assert [ln.words for ln in lines] == [("ok", "1"), ("desc", "=", "a "), ("next", "2")]
    assert lines[1].error == UNBALANCED_HASH
    assert lines[1].lineno == 2
    assert lines[2].lineno == 3
    with pytest.raises(LexError):
        split_words('"a#b"')


def test_line_continuation_keeps_the_starting_line_number() -> None:
    lines = split_text("[ups]\n driver = dummy-ups \\\n  port=x\nlast")
    assert lines[1].words == ("driver", "=", "dummy-ups", "port", "=", "x")
    assert lines[1].lineno == 2
    assert lines[2].lineno == 4
    assert lines[2].words == ("last",)


def test_continuation_inside_quotes() -> None:
    assert split_text('desc = "one \\\ntwo"\n')[0].words == ("desc", "=", "one two")


def test_limits_cut_and_warn() -> None:
    line = split_text(" ".join(str(i) for i in range(40)))[0]
    assert len(line.words) == 32
    assert line.warning and "32" in line.warning
    long = split_text("x" * 600)[0]
    assert long.words == ("x" * 512,)
    assert long.warning and "512" in long.warning


def test_missing_closing_quote_at_eof_is_an_error() -> None:
    lines = split_text('desc = "never closed')
    assert lines[0].error and "quote" in lines[0].error


def test_incremental_feed_matches_whole_text() -> None:
    text = 'SETINFO ups.mfr "A \\"B\\""\nDATAOK\nADDCMD load.off\n'
    lexer = Lexer()
    lines = []
    for ch in text:
        lines += lexer.feed(ch)
    assert [ln.words for ln in lines] == [ln.words for ln in split_text(text)]
    assert not lexer.pending


def test_encode_and_quote() -> None:
    assert encode('a"b\\c#d') == 'a\\"b\\\\c\\#d'
    assert quote("x y") == '"x y"'


printable = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@given(st.lists(printable, min_size=1, max_size=10))
def test_join_words_round_trips(words: list[str]) -> None:
    assert split_words(join_words(*words)) == words


@given(st.text(max_size=300))
def test_random_text_never_raises_unexpectedly(text: str) -> None:
    for line in split_text(text):
        assert len(line.words) <= 32
        assert all(len(w) <= 512 for w in line.words)
        assert all(" " <= c <= "\x7f" for w in line.words for c in w)
