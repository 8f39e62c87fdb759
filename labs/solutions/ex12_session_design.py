"""Exercise 12, one solution: the numbers read off the measured table, and a choice for each
service that those numbers allow.

The bank needs a logout that ends every copy at once: only a design with something on the
server to delete (a Redis session, or a JWT with its denylist) can do that. The shop's carts of
150 lines do not fit under the 4 KB a browser keeps (112 lines signed, 78 encrypted, measured):
its cart belongs in the store. The docs site must serve logged-in readers while the store is
away, and 20,000 requests/s of session reads would be its store's whole load: a signed cookie
asks the store nothing, and the revocation gap (a copy works for 30 minutes after its last use,
for as long as someone keeps using it) is what the team accepted.
"""


def needs(costs, service):
    """The three numbers a choice rests on, for one design and one service."""
    return {
        "store_trips_per_second": service.requests_per_second * costs.me_round_trips,
        "cart_fits": costs.lines_in_4kb is None or service.cart_lines <= costs.lines_in_4kb,
        "logout_is_immediate": costs.revocable,
    }


CHOICES = {
    "bank": (
        "Redis session",
        "only a session the server can delete ends every copy at once; 2,000 trips/s is light",
    ),
    "shop": (
        "Redis session",
        "150 lines do not fit in a 4 KB cookie (112 signed), so the cart lives in the store",
    ),
    "docs": (
        "signed cookie",
        "zero store trips, so readers are served while the store is down; logout may wait",
    ),
}
