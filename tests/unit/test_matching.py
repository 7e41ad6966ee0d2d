"""Company matching: what a user sees when pressing "Export" on a lead (seed 002: de-duplicate by name and CVR)."""

import pytest

from leadbridge.export.matching import (
    CompanyKeys,
    MatchReason,
    MatchVerdict,
    normalise_domain,
    normalise_name,
    normalise_org_nr,
    rank_candidates,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("DK 12 34 56 78", "12345678"), ("12345678", "12345678"), ("556677-8899", "5566778899"), ("", None), (None, None)],
)
def test_org_numbers_compare_without_formatting_or_country_prefix(raw, expected):
    assert normalise_org_nr(raw) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Møller & Søn A/S", "MØLLER AND SØN"),
        ("Acme ApS", "ACME A/S"),
        ("Nordisk Fjer A.M.B.A.", "nordisk fjer"),
        ("Café Ørsted I/S", "Cafe Oersted"),
        ("Example Ltd.", "Example Limited"),
    ],
)
def test_names_equal_after_normalisation(a, b):
    assert normalise_name(a) == normalise_name(b)


def test_legal_form_alone_is_not_stripped_to_nothing_in_the_middle():
    assert normalise_name("AS Holding") == "as holding"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Example.dk/about?x=1", "example.dk"),
        ("example.dk", "example.dk"),
        ("www.example.dk:8080", "example.dk"),
        ("jane@sales.example.dk", "sales.example.dk"),
        ("not a domain", None),
    ],
)
def test_domains_are_normalised(raw, expected):
    assert normalise_domain(raw) == expected


def _rank(lead, *cands):
    return rank_candidates(lead, [(str(i), c, None) for i, c in enumerate(cands, start=1)])


def test_exact_match_on_org_number_beats_name_match():
    lead = CompanyKeys(name="Acme A/S", org_nr="DK12345678", websites=["acme.dk"])
    result = _rank(
        lead, CompanyKeys(name="Acme", websites=["acme.dk"]), CompanyKeys(name="ACME Danmark", org_nr="12345678")
    )
    assert result.verdict is MatchVerdict.EXACT
    assert result.candidates[0].crm_id == "2"
    assert result.candidates[0].reasons == [MatchReason.ORG_NUMBER]
    assert result.candidates[0].explanation == "same org number"


def test_name_and_domain_together_are_exact_but_each_alone_is_only_possible():
    lead = CompanyKeys(name="Acme ApS", websites=["https://acme.dk"])
    assert _rank(lead, CompanyKeys(name="ACME A/S", websites=["www.acme.dk"])).verdict is MatchVerdict.EXACT
    name_only = _rank(lead, CompanyKeys(name="Acme"))
    assert name_only.verdict is MatchVerdict.POSSIBLE
    assert name_only.candidates[0].reasons == [MatchReason.NAME]
    domain_only = _rank(lead, CompanyKeys(name="Something else", websites=["acme.dk"]))
    assert domain_only.verdict is MatchVerdict.POSSIBLE
    assert domain_only.candidates[0].reasons == [MatchReason.DOMAIN]


def test_conflicting_org_numbers_prevent_an_exact_match():
    lead = CompanyKeys(name="Acme", org_nr="11111111", websites=["acme.dk"])
    result = _rank(lead, CompanyKeys(name="Acme", org_nr="22222222", websites=["acme.dk"]))
    assert result.verdict is MatchVerdict.POSSIBLE
    assert MatchReason.ORG_NUMBER_CONFLICT in result.candidates[0].reasons
    assert result.candidates[0].confidence <= 0.3


def test_contact_email_domain_matches_company_website_but_free_mail_does_not():
    lead = CompanyKeys(name="Acme", emails=["jane@acme.dk", "bob@gmail.com"])
    hit = _rank(lead, CompanyKeys(name="Other name", websites=["acme.dk"]))
    assert hit.candidates[0].reasons == [MatchReason.EMAIL_DOMAIN]
    miss = _rank(CompanyKeys(name="Acme", emails=["bob@gmail.com"]), CompanyKeys(name="Zed", websites=["gmail.com"]))
    assert miss.verdict is MatchVerdict.NONE
    assert miss.candidates == []


def test_close_names_are_possible_matches_and_unrelated_ones_are_dropped():
    lead = CompanyKeys(name="Nordic Software Solutions")
    result = _rank(lead, CompanyKeys(name="Nordic Softwares Solution"), CompanyKeys(name="Bakery Jensen"))
    assert [c.crm_id for c in result.candidates] == ["1"]
    assert result.candidates[0].reasons == [MatchReason.CLOSE_NAME]


def test_no_candidates_means_none():
    assert _rank(CompanyKeys(name="Acme")).verdict is MatchVerdict.NONE


def test_candidates_are_ordered_best_first():
    lead = CompanyKeys(name="Acme", websites=["acme.dk"], org_nr="12345678")
    result = _rank(
        lead,
        CompanyKeys(name="Acme"),  # name only
        CompanyKeys(name="Acme", websites=["acme.dk"]),  # name + domain
        CompanyKeys(name="x", org_nr="12345678"),  # org nr
    )
    assert [c.crm_id for c in result.candidates] == ["3", "2", "1"]
