"""Telegram handles: every accepted form, every rule, and a property over any string."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import telegram

ACCEPTED = [
    ("anna_k", "anna_k"),
    ("@anna_k", "anna_k"),
    ("  @anna_k  ", "anna_k"),
    ("Anna_K1", "Anna_K1"),
    ("t.me/anna_k", "anna_k"),
    ("T.ME/anna_k", "anna_k"),
    ("https://t.me/anna_k", "anna_k"),
    ("http://t.me/anna_k", "anna_k"),
    ("https://t.me/anna_k/", "anna_k"),
    ("https://t.me/anna_k?start=1", "anna_k"),
    ("www.t.me/anna_k", "anna_k"),
    ("telegram.me/anna_k", "anna_k"),
    ("https://telegram.me/anna_k", "anna_k"),
    ("https://www.telegram.me/anna_k", "anna_k"),
    ("t.me/@anna_k", "anna_k"),
    ("abcde", "abcde"),  # shortest allowed
    ("a" * 32, "a" * 32),  # longest allowed
    ("a_b_c_d", "a_b_c_d"),
    ("user2025", "user2025"),
    ("\tanna_k\n", "anna_k"),
]

REFUSED = [
    ("", "empty"),
    ("   ", "empty"),
    ("@", "empty"),
    ("t.me/", "empty"),
    ("https://t.me", "empty"),
    ("+375 29 123-45-67", "phone"),
    ("+375291234567", "phone"),
    ("80291234567", "phone"),
    ("(029) 123 45 67", "phone"),
    ("anna@example.com", "email"),
    ("https://instagram.com/anna_k", "other_site"),
    ("vk.com/anna_k", "other_site"),
    ("https://t.me.evil.com/anna_k", "other_site"),
    ("https://evil.com/t.me/anna_k", "other_site"),
    ("tg://resolve?domain=anna_k", "other_site"),
    ("javascript://t.me/anna_k", "other_site"),
    ("https://t.me/+AbCdEf123", "not_profile"),
    ("https://t.me/joinchat/AbCdEf", "not_profile"),
    ("t.me/channel_name/123", "not_profile"),
    ("t.me/c/12345/67", "not_profile"),
    ("t.me/addstickers/pack", "not_profile"),
    ("anna k", "spaces"),
    ("@anna kowalska", "spaces"),
    ("анна_к", "non_latin"),
    ("аnna_k", "non_latin"),  # Cyrillic "а" that looks Latin
    ("annа_k", "non_latin"),  # Cyrillic "а" at the end of the name
    ("ɑnna_k", "non_latin"),  # noqa: RUF001  Latin alpha, a look-alike
    ("ａｎｎａ_ｋ", "non_latin"),  # noqa: RUF001  full-width letters
    ("anna-k", "characters"),
    ("anna.k", "characters"),
    ("anna_k!", "characters"),
    ("anna\u200bk_1", "characters"),  # zero-width space
    ("@@anna_k", "characters"),
    ("anna", "too_short"),
    ("a_b", "too_short"),
    ("a" * 33, "too_long"),
    ("1anna", "start"),
    ("_anna", "start"),
    ("12345", "start"),
    ("anna__k", "double_underscore"),
    ("anna_k_", "end_underscore"),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted_forms_give_the_bare_name(raw, expected):
    assert telegram.normalize(raw) == expected


@pytest.mark.parametrize(("raw", "rule"), REFUSED)
def test_refused_input_names_the_rule_it_broke(raw, rule):
    with pytest.raises(telegram.InvalidHandle) as caught:
        telegram.normalize(raw)
    assert caught.value.code == rule
    assert caught.value.code in telegram.MESSAGES


def test_the_table_is_large_enough_and_covers_every_rule():
    assert len(ACCEPTED) + len(REFUSED) >= 40
    assert {rule for _, rule in REFUSED} == set(telegram.MESSAGES)


def test_profile_url():
    assert telegram.profile_url("anna_k") == "https://t.me/anna_k"


@given(st.text())
def test_normalize_returns_a_valid_name_or_raises_the_one_error(raw):
    try:
        name = telegram.normalize(raw)
    except telegram.InvalidHandle as error:
        assert error.code in telegram.MESSAGES  # noqa: PT017  (either outcome is allowed: no pytest.raises)
    else:
        assert telegram.is_valid(name)
        assert telegram.normalize(name) == name


@given(st.from_regex(r"@?[A-Za-z](?:[A-Za-z0-9]|_(?!_)){3,30}[A-Za-z0-9]", fullmatch=True))
def test_every_valid_name_is_accepted(raw):
    name = telegram.normalize(raw)
    assert name == raw.removeprefix("@")
    assert telegram.normalize(f"https://t.me/{name}") == name
