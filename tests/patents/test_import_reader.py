"""Reading an import file: its format."""

from marketplace.patents import import_reader
from marketplace.patents.import_models import ImportFormat


def test_detect_format() -> None:
    detect = import_reader.detect_format
    assert detect(filename="p.CSV", content_type=None, head=b"{") is ImportFormat.csv
    assert detect(filename="p.ndjson", content_type=None, head=b"a,b") is ImportFormat.jsonl
    assert detect(filename=None, content_type="text/csv", head=b"{") is ImportFormat.csv
    assert (
        detect(filename="x", content_type="application/x-ndjson", head=b"a") is ImportFormat.jsonl
    )
    assert detect(filename="x", content_type=None, head=b"\xef\xbb\xbf {") is ImportFormat.jsonl
    assert detect(filename="x", content_type=None, head=b"application_number") is ImportFormat.csv
