"""Lesson 01 exercise: spot the state.

Six short request handlers. Which ones keep state *on the instance* (in its memory or on its
local disk) that a later request depends on, so that the request breaks, or silently gives a
different answer, when the load balancer sends it to another instance?

The learner answers with a set of snippet numbers; the check gives the reason for every
snippet, and marks the ones they got wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from labs.checking import CheckReport


@dataclass(frozen=True)
class Snippet:
    number: int
    title: str
    code: str
    keeps_state: bool
    why: str


SNIPPETS = [
    Snippet(
        1,
        "log in",
        """\
SESSIONS = {}

@app.post("/login")
def login():
    session_id = secrets.token_urlsafe(32)
    SESSIONS[session_id] = request.json["username"]
    return {"session": session_id}""",
        True,
        "the session lives in this process's SESSIONS dict: the next request, sent to another "
        "instance, finds no session (lesson 01's bug)",
    ),
    Snippet(
        2,
        "price of a basket",
        """\
PRICES = {"book": 12.0, "pen": 1.5}   # fixed when the code is deployed

@app.post("/quote")
def quote():
    items = request.json["items"]
    return {"total": sum(PRICES[sku] * qty for sku, qty in items.items())}""",
        False,
        "PRICES is read-only configuration, identical on every instance; the answer depends only "
        "on the request",
    ),
    Snippet(
        3,
        "rate limit",
        """\
hits = collections.Counter()

@app.get("/search")
def search():
    hits[request.remote_addr] += 1
    if hits[request.remote_addr] > 100:
        return {"error": "slow down"}, 429
    return run_search(request.args["q"])""",
        True,
        "each instance counts on its own, so with N instances a client gets N × 100 searches, "
        "and the count resets at every restart (lesson 08)",
    ),
    Snippet(
        4,
        "who am I",
        """\
store = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)

@app.get("/me")
def me():
    user = store.hget("session:" + request.cookies.get("session", ""), "user")
    return ({"user": user}, 200) if user else ({"error": "log in"}, 401)""",
        False,
        "the session is read from Redis, which every instance shares: any instance gives the "
        "same answer",
    ),
    Snippet(
        5,
        "upload a photo",
        """\
@app.post("/photos")
def upload():
    photo_id = uuid.uuid4().hex
    request.files["photo"].save(f"/tmp/photos/{photo_id}.jpg")
    return {"id": photo_id}, 201

@app.get("/photos/<photo_id>")
def download(photo_id):
    return send_file(f"/tmp/photos/{photo_id}.jpg")""",
        True,
        "the photo is on this instance's local disk: GET /photos/<id> on another instance is a "
        "404, and the file vanishes with the container (use object storage, lesson 08)",
    ),
    Snippet(
        6,
        "shipping zone",
        """\
@functools.lru_cache(maxsize=1024)
def zone_of(postcode: str) -> str:
    return ZONE_TABLE[postcode[:2]]      # a fixed table shipped with the code

@app.get("/shipping/<postcode>")
def shipping(postcode):
    return {"zone": zone_of(postcode)}""",
        False,
        "the cache is in memory but only remembers a pure function of its argument: every "
        "instance computes the same answer, so losing the cache or missing it costs time, "
        "never correctness",
    ),
]

HINT = (
    "For each snippet ask: if the next request goes to a *different* instance (or this one "
    "restarts), does the user get a wrong or missing answer? In-memory copies of fixed data "
    "are fine; anything written during a request and read later is state."
)


def show_snippets() -> None:
    """Print the six snippets, numbered, for the learner to read."""
    for snippet in SNIPPETS:
        print(f"# --- snippet {snippet.number}: {snippet.title} ---")
        print(snippet.code)
        print()


def _numbers(answer: object) -> set[int] | None:
    """The snippet numbers in ``answer`` (a set/list of numbers, or a {number: bool} dict)."""
    if isinstance(answer, Mapping):
        answer = [number for number, keeps in answer.items() if keeps]
    if isinstance(answer, str | bytes) or not isinstance(answer, Iterable):
        return None
    numbers = set()
    for item in answer:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item)
        if isinstance(item, bool) or not isinstance(item, int):
            return None
        numbers.add(item)
    return numbers


def check_spot_the_state(answer: object, *, hint: bool = False) -> CheckReport:
    """Check the set of snippets that keep state on the instance; explain every miss."""
    report = CheckReport("Exercise 01 · Spot the state", closer=hint)
    numbers = _numbers(answer)
    if numbers is None:
        report.expect(
            False,
            f"the answer should be a set of snippet numbers, like {{1, 2}} (got {answer!r})",
            "Write the numbers of the snippets that keep state, e.g. keeps_state = {1, 2}.",
        )
        return report.show()
    if not numbers:
        report.expect(
            False,
            "your set is empty: you say no snippet keeps state (read them again: some do)",
            HINT,
        )
        return report.show()
    unknown = sorted(numbers - {snippet.number for snippet in SNIPPETS})
    if unknown:
        report.expect(False, f"there is no snippet {unknown} (they are numbered 1 to 6)", HINT)
    wrong = [snippet for snippet in SNIPPETS if (snippet.number in numbers) != snippet.keeps_state]
    if wrong:
        # How many, not which: naming the wrong snippets would give away the answer, since
        # each one is a yes or a no. The closer hint (a later attempt) points at one of them.
        first = wrong[0]
        report.expect(
            False,
            f"{len(wrong)} of the {len(SNIPPETS)} snippets are judged wrong",
            HINT,
            f"read snippet {first.number} ({first.title}) again: {first.why}",
        )
        return report.show()
    for snippet in SNIPPETS:  # all right: every explanation is the reward
        verdict = "keeps state" if snippet.keeps_state else "keeps no state"
        report.expect(True, f"snippet {snippet.number} ({snippet.title}) {verdict}: {snippet.why}")
    return report.show()
