"""The course's demo users, stored the way a real service stores them: hashed.

Learners log in as one of these:

======== ============
user     password
======== ============
alice    wonderland
bob      builder
carol    singalong
dave     deepdive
erin     riverbank
user01   pass-user01   (load-test users user01 ... user50, password ``pass-<name>``)
======== ============

The hashes use PBKDF2-SHA256 with 10,000 iterations so that a notebook can log in
fifty users in a fraction of a second. A production service keeps Werkzeug's
default (far more iterations, or scrypt): slow on purpose, to slow down guessing.
"""

from werkzeug.security import check_password_hash

PASSWORD_HASHES: dict[str, str] = {
    "alice": "pbkdf2:sha256:10000$z9fLIN1MfWqYUs9m$31ed1a078949379f3a9097f3ff95a6ce324a1d7f0362eed7bf57e7ec1bd7fc43",
    "bob": "pbkdf2:sha256:10000$VERwzS11frUP28oh$8833028cc535e23349c5b7ad26477f1d18506b35484f47427052ea493d10390d",
    "carol": "pbkdf2:sha256:10000$hQd4TBc8EWc2Es2M$b494a629a0fcc280bab2fef78959df0fbd2923bdb7785aa24867bb9ef7933fd7",
    "dave": "pbkdf2:sha256:10000$dtDPUvGhLY9jA6ot$6ffba42e56daa69d7beacca94e2a4b34b7e2b17179bc2a318be8c8decfdd3fb2",
    "erin": "pbkdf2:sha256:10000$8Ev6z6npdFVnOLSb$2c7b39eca3d53e8c997fe74e2d722350e4997cc826cecf2a494b8705b9762be8",
    "user01": "pbkdf2:sha256:10000$8yPPFDX5micVTcB6$d45774457cea194afdfca590c6c73f7b0aa084d2d5f466ec45921040183f6e7d",
    "user02": "pbkdf2:sha256:10000$ffOulnnYfHmDMLet$a9cb24791fbf5839defb9db9e8ff245448eec30c813cf8fe3ff41a6fa03b7db7",
    "user03": "pbkdf2:sha256:10000$s6JrdeX8HD9hLWOQ$6b88b2efa824d2ee95aaff4bfb94214c4a64ef7df3a173e78e9b9aab7bac3e47",
    "user04": "pbkdf2:sha256:10000$O9lIXcoCjQxlW2kY$07e638eca7a7afb061c880ce846421e197bc72fd2475442e1eba51b023e0e4ce",
    "user05": "pbkdf2:sha256:10000$X07ODWXekf9lE9jH$b0f016381a0d74c755357e46a993f95ae6cc9475ef2e1ed9e0f1a2e5e1f57704",
    "user06": "pbkdf2:sha256:10000$jGbWgJmsYvVw3EbF$506a8c74207c0bfbfbd7ad5055fabb937972b1386c6af4fb3d10a2d9d6e8b63f",
    "user07": "pbkdf2:sha256:10000$70tLFefokXm3b5OJ$95f52c38e4cc0d139eb49604c716c7a8e5e50d91bee5a85c48bc7936abb23e8e",
    "user08": "pbkdf2:sha256:10000$NxjUZUQrCovU8zEN$64d142fee0de1874eaebcc04640b8ed0a4a9db194f188281cd94ce74bf3c2fc9",
    "user09": "pbkdf2:sha256:10000$UA1g2PgHFvW7ymVa$59d9709ff89784782876865c0b0d75c0274d290c592c3eed6399e9dd463fa34f",
    "user10": "pbkdf2:sha256:10000$iCgWdwGJdzjB0cAk$0a01fefb5716b98443a172d8b6dad69021c00d5e4ed064f482ace7d6a75ee25e",
    "user11": "pbkdf2:sha256:10000$7f9tpyvfiimFDRMY$4bb1442ceed51847fe14862f8c43bb5c61bf783dcacf76e9f80e25906a3f1e3a",
    "user12": "pbkdf2:sha256:10000$BGXZAdzVE7P1If8A$644bfca7799c04f466f85de7efc26208e65f5d5b941aaa33434743c224d0340a",
    "user13": "pbkdf2:sha256:10000$LzMpkql6pMwlPPEi$9fd54259706296c9665d714568cc5521a17802e312534b9dd005229bb9b21058",
    "user14": "pbkdf2:sha256:10000$d1d8NCIP4OWEN9rg$028242791549b3e2e31535fccac08a8a054720527f4f7e84b9a3821ea8fccc9b",
    "user15": "pbkdf2:sha256:10000$OHNO2IA8gH0OtRvx$33b3cf5784931f69f3665f9a631e6a2b75130913b72572ba95e28d6599ebd17a",
    "user16": "pbkdf2:sha256:10000$8YKbFCJ0RHL68s44$7e0ec1268971724a2107c4a2d62523be60cf8cded5314d201337a7a4ac98d2e1",
    "user17": "pbkdf2:sha256:10000$TwTYRDkD3k7SnUKT$5eee92418d3ef2e980562c7ee7dbf2ea76d9552a68b3d4d59b4dc0523f8b293f",
    "user18": "pbkdf2:sha256:10000$C5sZvCDMQ1uAgs9o$08f4c3b80ae40091773408a9a4bdf3291fb4ea7efa5f830d1fe6f960c8b6734b",
    "user19": "pbkdf2:sha256:10000$hfgUu35qAJdFpuLK$d54be224229dd9f3c8b52e144f913e78ea6b7af74d0633878bea5f0ff45b1392",
    "user20": "pbkdf2:sha256:10000$BKM1aIR0xPkhHwHP$051985de95afd8e58e2b5f8a7a2a84347e733d9a23ba7cadae99362f0744db01",
    "user21": "pbkdf2:sha256:10000$xA0jSgTkmGTxNCcu$3ce72482f2928bbe2e320fa25561bc6c09c450539efa5383e0188cbed9f0ca27",
    "user22": "pbkdf2:sha256:10000$kV8fhKsdSAV0dLWv$ec3e0fe193d91b6d5bf12e5005e8d324d78dc7709ba39789287c24d68d2248bd",
    "user23": "pbkdf2:sha256:10000$gsM4lT6ECkRfHw2W$87e93af7a381a12c72765908f3d44c590d3dc51a7c6bc622b47aa6c4a40f1af6",
    "user24": "pbkdf2:sha256:10000$SW4L3A9cFsZzxEeY$59220038ba2342590555a2ffc9291796966fc0e75a7889fc0e5f1578afde4420",
    "user25": "pbkdf2:sha256:10000$mHAr47RopdDoPQ2q$2a1f5548d261833e7358e0169a296885d78cdc8ab3e03df6b2df77195633a6db",
    "user26": "pbkdf2:sha256:10000$HJ6X5EMxtMIgOwKM$c62c45d41500eb0833fef1bb5e94ef5934d06e2a5c6a1f36327657ccd0202227",
    "user27": "pbkdf2:sha256:10000$Rhqgn2c14NInpDcP$424e7042a8393dbd3cb431d99d713c655e5ac88743b68a6c08bc0c429da3a6a4",
    "user28": "pbkdf2:sha256:10000$Wno9JjbVnwnSu8kI$5a7c30186dd836fe0eb68936cfbdc1cdf340fa7076e09c893a0332f7cbcc400f",
    "user29": "pbkdf2:sha256:10000$WiWfKRm0t83JfitQ$debb74fc43edab19107eccbd8fa3e369b5fd19347fe6f9c258404777dd40ea3f",
    "user30": "pbkdf2:sha256:10000$mkmZbtbsE1S1WzfY$aadaf9ebaeb9d1c6dd977f6d8b5f6ecc6789c6547f7ecec976041bc95cb0f4bd",
    "user31": "pbkdf2:sha256:10000$Lm1jKd6LTcjoft1b$475dcdd8ce849191801e97bbf9ba90f62f47c86d931f7a0798c0a596e397b1b8",
    "user32": "pbkdf2:sha256:10000$8TEgecQhseNJx7J7$679e82cfd604de4c375631430594827ad7480a03b9cad199ad61aba3bfd93457",
    "user33": "pbkdf2:sha256:10000$k9heKMTlzAFAg1rq$40354ebda9dcdb98267c87f1183ba74981f8c4b5a8277b5869f2e6746a93eb70",
    "user34": "pbkdf2:sha256:10000$B3W1Q5JYfChqPR7p$65e9d2df132d4f559a4e2609c46b2f8b44833f0150f9cda8df561aab21dd24d1",
    "user35": "pbkdf2:sha256:10000$fcRTxn1SxN7r0jeS$ab7e149dbc4ef9501a0412cfb315a2df29e13a1b7376a9a04a8dfbafff186a6f",
    "user36": "pbkdf2:sha256:10000$vedncwbiln8yZ6Im$d6e5f65085ecc2524a38a532b66dee977a1a60aedec1db7aa7f737898177cdea",
    "user37": "pbkdf2:sha256:10000$Sd9DEg9Q4quGgrls$389a32c13d46326b9e8b547636df4ae62b8c7e02dca96822e74035dfd953ba27",
    "user38": "pbkdf2:sha256:10000$3uieoiZk4J4bGYRa$c55e695bf18b94f6cd19f8706da52d8b064a7fd79bb78482bfa9c4eb6ac8774c",
    "user39": "pbkdf2:sha256:10000$vRce45R7LRMWlBwL$fe052a38ca9e6fb3a66e4ce5d8c49f35924307008f4504cd091697231314ae7e",
    "user40": "pbkdf2:sha256:10000$qcredfQM110D84e7$eae6724f776150b89761cedbb866241c2bc7d9a0c96d4cb7e343476d0dbebd8f",
    "user41": "pbkdf2:sha256:10000$naREoXvTE01agFqr$2330b61bef9ca5e941c5bec9809e1bd8a5ee8dba7e4d87346bee44277510918f",
    "user42": "pbkdf2:sha256:10000$T0gtRKoXoJOATBlE$c2befa573063842ba1a67858994202adf16fafadeffe90bcdd0a1339fdcb56a6",
    "user43": "pbkdf2:sha256:10000$MMgcUqBQ1Zjw3Hfe$70a94ad154567ab5290fdfc182c4ccf266bd3b56fe7279288de8e038080b0878",
    "user44": "pbkdf2:sha256:10000$LJlUwiGaLNj9Vamn$e09679f082eb8dbaaaf30a700ff7c189a4aceaceb0850be191ceb7383d28e93d",
    "user45": "pbkdf2:sha256:10000$5AOFBfvYaWzvf5XL$9f0ff2393a570e3866bf4d461893950f978743ceddbbbdcb9cba5878b12740fe",
    "user46": "pbkdf2:sha256:10000$gcsSlFH0SBBIgWFz$ec77a8cbda42bc5897bd88780b12f8c53c48e63cbfb0b458015daed83b7a9188",
    "user47": "pbkdf2:sha256:10000$P2RqMw6LvZmt9PAt$26bcebeea63959df17a661ca254e45c338a3d8d8dfb2a62a729fd8a842e84dde",
    "user48": "pbkdf2:sha256:10000$sqHBc7W5wNEcyf2z$64a12f8bf5dcfdbbc4820bf24c74cbc27c857dd87051280742b14ec4465ef2d3",
    "user49": "pbkdf2:sha256:10000$7U3gzcdNjYqLAFVG$e7e4b31ad0ef420071da4687984208830b7ee6dfbee0f2278994d25b765d1f68",
    "user50": "pbkdf2:sha256:10000$ho0n3meVk5ik8ttx$d81fa9b198ae34a8419327542ace0da9785665ce7a66423f8471ac915bdc9c9d",
}

# Checked when the username is unknown, so a wrong name costs as much time as a
# wrong password and response timing does not reveal which usernames exist.
_DUMMY_HASH = PASSWORD_HASHES["alice"]


def login_body(username: str) -> dict[str, str]:
    """The JSON body of ``POST /login`` for demo user ``username``."""
    return {"username": username, "password": demo_password(username)}


def demo_password(username: str) -> str:
    """The documented demo password for ``username`` (tests and notebooks use it)."""
    known = {
        "alice": "wonderland",
        "bob": "builder",
        "carol": "singalong",
        "dave": "deepdive",
        "erin": "riverbank",
    }
    return known.get(username, f"pass-{username}")


def load_test_users(count: int) -> list[str]:
    """The first ``count`` load-test usernames: user01, user02, ..."""
    if not 0 <= count <= 50:
        raise ValueError("there are 50 load-test users (user01 ... user50)")
    return [f"user{i:02d}" for i in range(1, count + 1)]


def verify_password(username: str, password: str) -> bool:
    """True when ``password`` matches the stored hash of ``username``."""
    stored = PASSWORD_HASHES.get(username)
    if stored is None:
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(stored, password)
