"""Threats of violence (or of self-harm) in a resident's free text.

The text is simplified (NFKC, traditional characters), split into sentences
(。！？ and line breaks) and clauses (any other punctuation; spaces are dropped,
as spoken text comes word by word: "我 没 动手"), and each clause
is matched against a list of threat patterns, each worth some points (60 an
explicit threat to kill, maim or burn; 50 a weapon taken up; 40-30 vaguer
menaces or a fight). A match then goes through three checks, in order:

1. a joke: the sentence says 开玩笑/说着玩/气话… (not "不是开玩笑"), or the
   next sentence begins with it ("我要弄死他！开玩笑的。") → no hit;
2. a negation right before the match, in its clause: 我没想打他, 不会动手,
   不至于拿刀, 他没说要砍我 → no hit;
3. a worry or hypothesis before it in its clause (万一他动手怎么办, 怕他会打人,
   担心出事, 要是他打人…) → a small ``worry`` hit instead of a threat.
   "要是再不管我就砍他" is a conditional threat (就 after the 要是), not a worry.

Who threatens does not matter: "他说要砍我" (the other party) is a risk as
much as "我要砍他". Words that look violent but are not (砍树, 砍价, 拿刀切菜,
烧烤, 拼车, 打死蚊子, 打他电话, 跳楼价, 动手术, 自己动手修) are kept out by
the patterns themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .chinese_text import simplify


@dataclass(frozen=True)
class ThreatHit:
    phrase: str   # the words matched, e.g. 要弄死他
    snippet: str  # the clause they were found in (simplified characters)
    points: int   # how strongly it signals violence; a worry is small
    kind: str = "violence"  # violence | self_harm | worry


WORRY_POINTS = 10

_P = r"(?:他|她|你|我|他们|她们|你们|我们|对方|那家人|这家人|全家|一家|人)"  # a person
# "砍我家的树", "打他电话", "打人工客服": the person is only the owner, or no person at all
_NOT_A_PERSON_AFTER = r"(?!家|的|们家|工|[^，。]{0,4}?(?:电话|手机|号码|微信|座机|语音|视频))"

# (pattern, points, kind): points 60 explicit, 50 a weapon or violence done, 40/30 vaguer
_PATTERNS: tuple[tuple[str, int, str], ...] = (
    # kill, maim
    (rf"(?:要|想|去|非)?(?:弄|整|搞|打|砍|捅|掐|勒|毒|宰|杀|剁)死{_P}(?!也|都)" + _NOT_A_PERSON_AFTER,
     60, "violence"),
    (rf"把{_P}(?:给)?(?:弄|整|搞|打|砍|捅|掐|勒|毒|宰|杀|剁|撞)(?:死|残|废)", 60, "violence"),
    (rf"(?:被|让){_P}?(?:给)?(?:打|砍|捅|掐)(?:死|残|伤|断)", 60, "violence"),
    (rf"(?:杀|宰|做掉|干掉|弄残|打残|整残|搞残|废了)(?:了|掉)?{_P}" + _NOT_A_PERSON_AFTER, 60, "violence"),
    (r"(?:弄|打|整|搞)残", 60, "violence"),
    (rf"打断{_P}?的?(?:腿|手|胳膊)", 60, "violence"),
    (r"要(?:了)?(?:他|她|你|他们|她们|你们|对方)的?(?:老|小|狗)?命", 60, "violence"),
    (r"同归于尽|鱼死网破", 60, "violence"),
    (r"出人命", 50, "violence"),
    (r"(?:跟|和|同)[^，。]{0,4}?拼(?:了|命)(?!一|个|辆|单|车|桌|团|两|几|多|图|音|\d)", 60, "violence"),
    (r"(?:老子|我)(?:今天|就|也|非|要|就要){0,2}拼了(?:这条|我这条)?(?:老)?(?:命)?$", 60, "violence"),
    # stab, chop, burn, blow up
    (rf"(?:砍|捅|刺|劈)(?:死|伤|了|一刀)?{_P}" + _NOT_A_PERSON_AFTER, 60, "violence"),
    (rf"(?:烧|点|炸)(?:了|掉|平)?{_P}(?:的|们)?(?:家|房子|屋|车|店|铺子)", 60, "violence"),
    (r"放(?:一把)?火(?!炮|箭|车)|一把火(?:烧|点)|(?:泼|浇)(?:汽油|硫酸)|炸药|炸死", 60, "violence"),
    (r"(?:拿|提|带|掏|抄|举|拎|握|挥|持)(?:着|了|起|出|上)?(?:一把|把)?"
     r"(?:菜刀|刀子|砍刀|刀|斧头|斧子|匕首|剪刀|棍子|铁棍|木棍|钢管|铁锹|锄头|砖头|板砖|枪)"
     r"(?!鱼|削面|片)(?![^，]{0,3}(?:切|削|剁|杀鱼|杀鸡|做饭|砍柴|砍树|劈柴|修|剪|锄|挖|种|干活|赶|打狗|打蛇|打开|挑开|拨开))",
     50, "violence"),
    (r"动(?:了)?刀(?:子)?(?!片)", 50, "violence"),
    # violence done or a fight
    (r"动手打|动了手|动手了|打人了|打了人", 60, "violence"),
    (r"(?<!自己)(?<!亲自)动手(?!术|修|做|装|清|搬|改|拆|整理|收拾|脚)", 40, "violence"),
    (r"动手动脚", 30, "violence"),
    (r"(?:打|砍|捅|刺)伤|挨(?:了)?(?:打|揍|刀)|殴打|斗殴|群殴", 60, "violence"),
    (rf"(?:打|揍|扇|踢)(?:了)?{_P}(?:一顿|耳光|巴掌)?" + _NOT_A_PERSON_AFTER, 40, "violence"),
    (r"打起来|动起手|扭打|厮打", 40, "violence"),
    (r"家暴|家庭暴力", 50, "violence"),
    (r"(?:打|揍|殴打)(?:了)?(?:他|她|我|你)?(?:家|的)?(?:老婆|媳妇|妻子|老公|丈夫|孩子|老人|父母|母亲|父亲"
     r"|婆婆|公公|儿子|女儿|儿媳)" + _NOT_A_PERSON_AFTER, 40, "violence"),
    (r"打(?:了)?(?:一)?架", 30, "violence"),
    # menaces
    (rf"(?:让|叫|给){_P}(?:点)?(?:好看(?!看)|颜色看看|颜色瞧瞧|尝尝厉害|吃不了兜着走|知道厉害)",
     40, "violence"),
    (rf"有{_P}?好看的|没(?:有)?{_P}?的?好果子吃|有{_P}?好果子吃", 40, "violence"),
    (rf"(?:收拾|教训|报复)(?:一下)?{_P}" + _NOT_A_PERSON_AFTER, 40, "violence"),
    # threats of any kind ("物业威胁停水" is none of violence): little on their own
    (r"报复|威胁(?:我|他|她|我们|他们)|恐吓|扬言", 20, "violence"),
    (r"砸(?:了|坏|烂)?(?:他|她|你|我|他们|我们|对方)?(?:的|们)?家?(?:门|窗户|窗|玻璃)"
     r"|把(?:他|她|你|我|他们|我们)?(?:的|们)?家?(?:门|窗户|窗|玻璃)(?:给)?砸", 30, "violence"),
    (r"走着瞧|等着瞧|给我等着", 30, "violence"),
    (r"见血", 40, "violence"),
    # self-harm
    (r"不想活(?:了|下去)?(?!动|跃|儿)|活着没意思|死了算了|寻死|寻短见|轻生|自杀|割腕|上吊|喝农药|喝药自杀"
     r"|跳楼(?!价|梯|甩卖|大甩卖|机)|跳河|跳江|跳湖", 60, "self_harm"),
    (rf"死给{_P}看", 60, "self_harm"),
    (r"活不下去", 30, "self_harm"),
)
# strongest first: a clause's words count once, for the strongest pattern that takes them
_COMPILED = tuple((re.compile(p), points, kind)
                  for p, points, kind in sorted(_PATTERNS, key=lambda p: -p[1]))

# only after a worry cue: "担心出事" is a worry even though "出事" is no threat
_WORRY_ONLY = re.compile(r"出事|出大事|闹大|出意外|出乱子|打起来|动手|冲突升级|激化")

_SENTENCE_END = re.compile(r"[。！？!?\n\r]+")
_CLAUSE_END = re.compile(r"[，,；;：:、…~～()（）【】\[\]“”\"'「」『』《》<>.]+")
# spoken text comes word by word ("我 没 动手"): spaces are not clause ends, they go
_SPACES = re.compile(r"\s+")

_JOKE = re.compile(r"开(?:个|了个)?玩笑|说着玩|闹着玩|说说而已|嘴上说说|随口一?说|气话|玩笑话|逗你玩")
_JOKE_NEXT = re.compile(r"^(?:我|他|她)?(?:只是|就是|都是|是)?(?:在)?(?:" + _JOKE.pattern + ")")
_NOT_A_JOKE_BEFORE = re.compile(r"(?:不是|不像|并非|没|没有|绝不是|可不是|不是在|没在|不像是)$")

_NEGATION_BEFORE = re.compile(
    r"(?:没有|没|不|别|未|绝不|决不|并不|并没有|并没|从没有|从没|从不|从来没有|从来没|从来不|不是|很少|极少)"
    r"(?:会|想|要|敢|至于|可能|打算|能|该|用|必|再|去|曾|曾经|真|真的|说|说过|是说|是|是想|是要){0,3}"
    r"(?:跟|和|把|对|去)?(?:他|她|你|他们|她们|对方)?(?:给)?$")
_WORRY_BEFORE = re.compile(
    r"万一|担心|害怕|恐怕|生怕|就怕|(?<![不哪可])怕|会不会|是否会|会否|以免|免得|防止|避免|预防|以防"
    r"|真要|可能会|容易")
# "我很害怕他说要砍我": what he said is reported, not feared
_SPEECH = re.compile(r"说|扬言|威胁|喊|嚷|骂|放话|叫嚣|声称|发誓")
_IF_BEFORE = re.compile(r"如果|要是|假如|假设|若是|倘若|一旦")
_WORRY_AFTER = re.compile(r"怎么办|咋办|怎么整|如何是好")


def _sentences(text: str) -> list[str]:
    return [_SPACES.sub("", s) for s in _SENTENCE_END.split(text) if s.strip()]


def _clauses(sentence: str) -> list[str]:
    return [c for c in _CLAUSE_END.split(sentence) if c]


def _is_joke(sentence: str) -> bool:
    return any(not _NOT_A_JOKE_BEFORE.search(sentence[: m.start()])
               for m in _JOKE.finditer(sentence))


def _is_negated(before: str) -> bool:
    return bool(_NEGATION_BEFORE.search(before[-10:]))


def _is_worry(before: str, after: str) -> bool:
    if _WORRY_AFTER.search(after):
        return True
    worries = list(_WORRY_BEFORE.finditer(before))
    if worries and not _SPEECH.search(before[worries[-1].end():]):
        return True
    cues = list(_IF_BEFORE.finditer(before))
    # 要是他打人 (a hypothesis) but not 要是再不管我就砍他 (a conditional threat)
    return bool(cues) and "就" not in before[cues[-1].end():]


def _clause_hits(clause: str) -> list[ThreatHit]:
    hits: list[ThreatHit] = []
    taken: list[tuple[int, int]] = []
    for pattern, points, kind in _COMPILED:
        for m in pattern.finditer(clause):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue  # inside a stronger match already made (patterns run strongest first)
            taken.append((m.start(), m.end()))
            before, after = clause[: m.start()], clause[m.end():]
            if _is_negated(before):
                continue
            if _is_worry(before, after):
                hits.append(ThreatHit(m.group(0), clause, WORRY_POINTS, "worry"))
            else:
                hits.append(ThreatHit(m.group(0), clause, points, kind))
    if not hits:
        for m in _WORRY_ONLY.finditer(clause):
            before, after = clause[: m.start()], clause[m.end():]
            if _is_worry(before, after) and not _is_negated(before):
                hits.append(ThreatHit(m.group(0), clause, WORRY_POINTS, "worry"))
                break
    return hits


def find_threats(text: str) -> tuple[ThreatHit, ...]:
    """Threats (and worries) in ``text``, in the order they appear, strongest kept per phrase."""
    found: dict[str, ThreatHit] = {}
    sentences = _sentences(simplify(text))
    for i, sentence in enumerate(sentences):
        following = sentences[i + 1].strip() if i + 1 < len(sentences) else ""
        if _is_joke(sentence) or _JOKE_NEXT.match(following):  # 我要弄死他！开玩笑的。
            continue
        for clause in _clauses(sentence):
            for hit in _clause_hits(clause):
                kept = found.get(hit.phrase)
                if kept is None or hit.points > kept.points:
                    found[hit.phrase] = hit
    return tuple(found.values())


def strongest(hits: tuple[ThreatHit, ...]) -> ThreatHit | None:
    """The hit with the most points (the first such), or None."""
    return max(hits, key=lambda h: h.points, default=None)
