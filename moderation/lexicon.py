"""Word lists behind the lexical and context signals of ``moderation.features``.

They are data, not thresholds, so they live here rather than in ``config.py``. Every list is
matched against text after obfuscation folding (``features.fold_text``): lower case, leetspeak,
homoglyphs and masks already undone, so "F*CK", "fvck" and "ｆｕｃｋ" all meet "fuck" here.
The model learns its own weights from data; these lists only feed a handful of counts, the
un-masking of "f*ck", and the identity-term audit.
"""

from __future__ import annotations

__all__ = [
    "IDENTITY_INSULT_TEMPLATES",
    "IDENTITY_NEUTRAL_TEMPLATES",
    "IDENTITY_TERMS",
    "INSULT_PLURALS",
    "INSULT_WORDS",
    "LEET_MAP",
    "PROFANITY",
    "SECOND_PERSON_PATTERNS",
    "TROLL_ACCUSATIONS",
]

#: Profanity: a hit is a signal, not an insult by itself ("profanity alone is not an insult").
PROFANITY = frozenset(
    [
        "arse",
        "arsehole",
        "ass",
        "asses",
        "asshat",
        "asshole",
        "assholes",
        "bastard",
        "bastards",
        "bitch",
        "bitches",
        "bitchy",
        "bollocks",
        "bullshit",
        "cock",
        "cocks",
        "cocksucker",
        "crap",
        "cunt",
        "cunts",
        "damn",
        "dick",
        "dicks",
        "dickhead",
        "douche",
        "douchebag",
        "dumbass",
        "fag",
        "faggot",
        "faggots",
        "fags",
        "fck",
        "fcking",
        "fuck",
        "fucked",
        "fucker",
        "fuckers",
        "fuckin",
        "fucking",
        "fucks",
        "fuckwit",
        "goddamn",
        "hell",
        "jackass",
        "motherfucker",
        "motherfuckers",
        "motherfucking",
        "nigga",
        "niggas",
        "nigger",
        "niggers",
        "piss",
        "pissed",
        "prick",
        "pricks",
        "pussy",
        "retard",
        "retarded",
        "retards",
        "shit",
        "shite",
        "shithead",
        "shits",
        "shitty",
        "slut",
        "sluts",
        "twat",
        "twats",
        "wank",
        "wanker",
        "wankers",
        "whore",
        "whores",
    ]
)

#: Words that demean a person: name-calling when aimed at someone.
INSULT_WORDS = frozenset(
    [
        "asshole",
        "assholes",
        "bastard",
        "bigot",
        "bigots",
        "bimbo",
        "bitch",
        "bitches",
        "buffoon",
        "clown",
        "clowns",
        "coward",
        "cowards",
        "creep",
        "cretin",
        "cunt",
        "degenerate",
        "dick",
        "dickhead",
        "dimwit",
        "dipshit",
        "dolt",
        "douche",
        "douchebag",
        "dumb",
        "dumbass",
        "dumbest",
        "dummy",
        "dunce",
        "fag",
        "faggot",
        "fool",
        "foolish",
        "fools",
        "freak",
        "hypocrite",
        "hypocrites",
        "idiot",
        "idiotic",
        "idiots",
        "ignorant",
        "imbecile",
        "imbeciles",
        "jackass",
        "jerk",
        "joke",
        "lame",
        "liar",
        "liars",
        "loser",
        "losers",
        "lunatic",
        "maggot",
        "moron",
        "moronic",
        "morons",
        "nitwit",
        "nutcase",
        "nutjob",
        "pathetic",
        "pig",
        "pigs",
        "prick",
        "psycho",
        "psychopath",
        "punk",
        "retard",
        "retarded",
        "scum",
        "scumbag",
        "sheep",
        "shithead",
        "sicko",
        "simpleton",
        "skank",
        "slut",
        "sociopath",
        "stupid",
        "stupidest",
        "tool",
        "trash",
        "twat",
        "ugly",
        "vermin",
        "waste",
        "wanker",
        "whore",
        "worthless",
    ]
)


def _plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "sh", "ch", "x")) else "s")


#: The plurals of ``INSULT_WORDS`` that it lacks ("sociopaths", "psychos"): the lexical
#: signals of models from 2026.12-v4 on count them too ("sociopaths like yourself").
INSULT_PLURALS = (
    frozenset(_plural(word) for word in INSULT_WORDS if word.endswith("ss") or not word.endswith("s"))
    - INSULT_WORDS
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

#: Identity terms for balancing training data (issue 9): religions, nationalities,
#: orientations, ethnicities, genders, disabilities and ages. Every term the audit
#: (``moderation.audit``) names is here, with more besides: balanced on only half of the
#: audit's terms, the other half kept a false-positive rate three times the trained half's
#: (0.014 against 0.004, 7 terms over twice the overall rate), so the balancing does not carry
#: over to terms it never saw and a term a site cares about belongs in this list. The audit
#: still measures more than memory: its sentence frames are not the training frames.
IDENTITY_TERMS = (
    # religion
    "muslim", "christian", "jewish", "hindu", "buddhist", "sikh", "catholic", "atheist",
    "mormon", "protestant", "evangelical", "orthodox", "baptist", "quaker", "jain", "pagan",
    "agnostic",
    # orientation and gender
    "gay", "lesbian", "bisexual", "transgender", "trans", "queer", "straight", "heterosexual",
    "homosexual", "lgbt", "female", "male", "feminist", "woman", "man", "asexual", "pansexual",
    "nonbinary", "cisgender", "intersex",
    # ethnicity
    "black", "white", "asian", "latino", "latina", "hispanic", "arab", "african",
    "african american", "native american", "indigenous", "middle eastern", "south asian",
    "biracial", "roma", "aboriginal", "mixed-race",
    # nationality and origin
    "chinese", "mexican", "indian", "pakistani", "russian", "turkish", "syrian", "iranian",
    "israeli", "palestinian", "american", "canadian", "british", "german", "french",
    "nigerian", "japanese", "vietnamese", "filipino", "italian", "greek", "jamaican",
    "afghan", "iraqi", "ethiopian", "cuban", "haitian", "scottish", "australian",
    "polish", "irish", "korean", "somali", "ukrainian", "brazilian",
    "immigrant", "refugee",
    # disability
    "deaf", "blind", "disabled", "autistic", "wheelchair user", "hard of hearing",
    "visually impaired", "dyslexic", "paraplegic", "mentally ill", "neurodivergent",
    # age
    "old", "young", "teenage", "middle-aged", "elderly", "older",
)  # fmt: skip

#: Sentences we wrote for balancing identity terms in training (issue 9). Each is filled with
#: every term: the neutral ones are labelled 0, the insulting ones 1, so that a term alone
#: carries no weight and the insult words carry it. The neutral ones cover everyday, news,
#: self-identifying and positive mentions, and counter-speech (sentences that name an insult
#: to reject it, the case identity terms are known to be wrongly flagged in, Dixon et al.
#: 2018). None shares a sentence frame with the audit's templates (tests/test_audit.py checks
#: that no four-word sequence, and no three-word sequence around the term, is in both).
IDENTITY_NEUTRAL_TEMPLATES = (
    # everyday and descriptive
    "As a {term} person I volunteer at the food bank on weekends.",
    "My {term} colleague gave a great talk about the budget.",
    "The clinic hired two {term} nurses this spring.",
    "Our {term} neighbours invited us to dinner last night.",
    "Many {term} families moved to this town in the nineties.",
    "The {term} students organised a charity run.",
    "My best friend, who is {term}, loves hiking.",
    "Their {term} coach grew up in Leeds.",
    "The {term} couple down the road just adopted a puppy.",
    "My grandmother was {term} and taught me to bake bread.",
    "The new mural was painted by {term} artists from the neighbourhood.",
    "Thanks for sharing; my {term} roommate said the same thing.",
    "{term} parents at our school started a reading club.",
    "Some {term} athletes won medals at the games.",
    # news and questions
    "The article quotes two {term} doctors about the new clinic.",
    "Is the museum exhibit about {term} history still open?",
    "The mayor met {term} community leaders today.",
    "The {term} vote matters in this election.",
    "Two {term} candidates are running for city council.",
    "The survey asked {term} workers about their pay.",
    "The census shows the {term} population grew by five percent.",
    "The documentary follows three {term} teenagers through their final year.",
    "The report counts how many {term} residents rent their homes.",
    "Does anyone know a good {term} bookshop near the station?",
    "What was it like growing up {term} in a small town?",
    "Are there any {term} doctors in this area? Asking for my mum.",
    # self-identifying and positive
    "He said being {term} shaped how he sees the world.",
    "I'm {term}; I moderate this forum on weekends.",
    "Speaking as someone who is {term}, I agree with the article.",
    "I'm proud of my {term} heritage.",
    "We need more {term} voices on the school board.",
    "Happy to see {term} players in the national team.",
    "Our book club is reading memoirs by {term} writers this month.",
    "The festival celebrates {term} music, food and art.",
    # counter-speech: naming an insult or an abuse in order to reject it
    "Calling {term} folks idiots is lazy and wrong.",
    "It is unfair to call {term} kids dumb.",
    "The idea that {term} workers are lazy is a myth.",
    "Stereotypes about {term} people being dumb are simply false.",
    "Insulting {term} commenters does not make your argument better.",
    "Slurs aimed at {term} folks have no place in this forum.",
    "The harassment that {term} users face online is awful.",
    "I reported the account that kept attacking {term} commenters.",
    "People who mock {term} neighbours should be ashamed.",
    "Harassing {term} students is never acceptable.",
    "Nobody deserves abuse because they are {term}.",
    "As someone {term}, I am tired of the insults thrown at us online.",
    "Violence against {term} communities rose last year, the report says.",
    "Police say the victim was {term} and are investigating a possible hate crime.",
    "My {term} friend got abuse online yesterday, and I stood up for her.",
    "The word {term} is not an insult.",
    "Kids who are {term} get bullied at school far too often.",
    "Bullying {term} teenagers online has real consequences.",
    "No, {term} voters are not dumb; they just disagree with you.",
    "{term} folks are not idiots, whatever the trolls claim.",
    "Mocking someone as a {term} moron is just bigotry.",
    "It's wrong to say {term} men are violent, and the data backs that up.",
    "Claiming that {term} neighbours are stupid is just prejudice.",
    "My {term} brother is not stupid, whatever his teachers said.",
    "Being bullied over being {term} left my cousin in tears.",
    "Bullied {term} pupils deserve support from every teacher.",
    "Hate speech targeting {term} people is rising, police warn.",
    "Hateful posts about {term} neighbours get deleted here.",
)
IDENTITY_INSULT_TEMPLATES = (
    "You are such a {term} idiot, everyone can see it.",
    "Shut your mouth, you empty-headed {term} moron.",
    "Listen here, {term} imbecile, nobody asked you.",
    "Get lost, you worthless {term} loser.",
    "Nobody cares what you think, you {term} idiot.",
    "You {term} losers are all morons.",
    "Your comment is garbage, you dumb {term} jerk.",
    "Only a fool would post that, you {term} idiot.",
    "Learn to read, you illiterate {term} clown.",
    "Pathetic. You {term} idiots ruin every thread.",
    "You are the dumbest {term} person I have ever met.",
    "Crawl back under your rock, you {term} scumbag.",
    "Another clueless {term} fool spouting nonsense.",
    "Sit down, you lying {term} hypocrite.",
    "{term} idiots like you should not be allowed online.",
    "Keep crying, you spineless {term} coward.",
    "What an ignorant {term} bigot you are.",
    "Nobody here respects you, you {term} clown.",
    "Stupid {term} trolls like you are a waste of space.",
    "Your {term} brain is too small to follow this, moron.",
)
