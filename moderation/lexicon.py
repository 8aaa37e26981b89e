"""Word lists behind the lexical and context signals of ``moderation.features``.

They are data, not thresholds, so they live here rather than in ``config.py``. Every list is
matched against text after obfuscation folding (``features.fold_text``): lower case, leetspeak,
homoglyphs and masks already undone, so "F*CK", "fvck" and "ｆｕｃｋ" all meet "fuck" here.
The model learns its own weights from data; these lists only feed a handful of counts, the
un-masking of "f*ck", and the identity-term audit.
"""

from __future__ import annotations

__all__ = [
    "IDENTITY_TERMS",
    "INSULT_WORDS",
    "LEET_MAP",
    "PROFANITY",
    "SECOND_PERSON_PATTERNS",
    "TROLL_ACCUSATIONS",
]

#: Profanity: a hit is a signal, not an insult by itself ("profanity alone is not an insult").
PROFANITY = frozenset(
    ["arse", "arsehole", "ass", "asses", "asshat", "asshole", "assholes", "bastard", "bastards", "bitch", "bitches", "bitchy", "bollocks", "bullshit", "cock", "cocks", "cocksucker", "crap", "cunt", "cunts", "damn", "dick", "dicks", "dickhead", "douche", "douchebag", "dumbass", "fag", "faggot", "faggots", "fags", "fck", "fcking", "fuck", "fucked", "fucker", "fuckers", "fuckin", "fucking", "fucks", "fuckwit", "goddamn", "hell", "jackass", "motherfucker", "motherfuckers", "motherfucking", "nigga", "niggas", "nigger", "niggers", "piss", "pissed", "prick", "pricks", "pussy", "retard", "retarded", "retards", "shit", "shite", "shithead", "shits", "shitty", "slut", "sluts", "twat", "twats", "wank", "wanker", "wankers", "whore", "whores"]
)

#: Words that demean a person: name-calling when aimed at someone.
INSULT_WORDS = frozenset(
    ["asshole", "assholes", "bastard", "bigot", "bigots", "bimbo", "bitch", "bitches", "buffoon", "clown", "clowns", "coward", "cowards", "creep", "cretin", "cunt", "degenerate", "dick", "dickhead", "dimwit", "dipshit", "dolt", "douche", "douchebag", "dumb", "dumbass", "dumbest", "dummy", "dunce", "fag", "faggot", "fool", "foolish", "fools", "freak", "hypocrite", "hypocrites", "idiot", "idiotic", "idiots", "ignorant", "imbecile", "imbeciles", "jackass", "jerk", "joke", "lame", "liar", "liars", "loser", "losers", "lunatic", "maggot", "moron", "moronic", "morons", "nitwit", "nutcase", "nutjob", "pathetic", "pig", "pigs", "prick", "psycho", "psychopath", "punk", "retard", "retarded", "scum", "scumbag", "sheep", "shithead", "sicko", "simpleton", "skank", "slut", "sociopath", "stupid", "stupidest", "tool", "trash", "twat", "ugly", "vermin", "waste", "wanker", "whore", "worthless"]
)

#: Second-person targeting: the comment is aimed at the person it answers.
SECOND_PERSON_PATTERNS = (
    r"\byou(?:'re| are| r|re)\b",
    r"\bu r\b",
    r"\bur (?:a|an|so)\b",
    r"\byou(?:'re| are)? (?:such|so|a|an|the|just|nothing but|clearly|obviously)\b",
    r"\byou (?:must be|sound|look|seem)\b",
    r"\blike (?:yourself|you)\b",
    r"\byourself\b",
    r"\bgo (?:away|die|back)\b",
    r"\bshut (?:up|the)\b",
)

#: What repliers call someone they think is trolling.
TROLL_ACCUSATIONS = (
    r"\btrolls?\b",
    r"\btrolling\b",
    r"\bshills?\b",
    r"\bbots?\b",
    r"\bpaid (?:poster|agent|troll|shill)s?\b",
    r"\bdon'?t feed\b",
    r"\bsock ?puppets?\b",
    r"\bhasbara\b",
    r"\bbait(?:ing)?\b",
)

#: Leetspeak read inside a word ("id10t", "sh!t", "@ss", "$hit"); digits alone are numbers.
LEET_MAP = {
    "0": "o",
    "1": "i",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "9": "g",
    "@": "a",
    "$": "s",
    "!": "i",
    "|": "l",
    "+": "t",
}

#: Identity terms for the bias audit and for balancing training data (issue 9): religions,
#: nationalities, orientations, ethnicities, genders and disabilities.
IDENTITY_TERMS = (
    "muslim",
    "christian",
    "jewish",
    "hindu",
    "buddhist",
    "sikh",
    "catholic",
    "atheist",
    "mormon",
    "protestant",
    "gay",
    "lesbian",
    "bisexual",
    "transgender",
    "trans",
    "queer",
    "straight",
    "heterosexual",
    "homosexual",
    "black",
    "white",
    "asian",
    "latino",
    "latina",
    "hispanic",
    "arab",
    "african",
    "african american",
    "native american",
    "indigenous",
    "chinese",
    "mexican",
    "indian",
    "pakistani",
    "russian",
    "turkish",
    "syrian",
    "iranian",
    "israeli",
    "palestinian",
    "american",
    "canadian",
    "british",
    "german",
    "french",
    "nigerian",
    "immigrant",
    "refugee",
    "deaf",
    "blind",
    "disabled",
    "autistic",
    "wheelchair user",
    "old",
    "young",
    "feminist",
    "female",
    "male",
    "woman",
    "man",
)
