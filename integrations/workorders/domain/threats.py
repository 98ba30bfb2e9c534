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
4. a story about other people: violence told after a news or hearsay cue
   (新闻, 电视上说, 网上, 听说, 据说…) with nobody of this dispute (我, 他,
   对方…) named from the cue on ("听说隔壁小区有人把人砍了"), or violence in a
   clause naming nobody that the resident then turns away from ("邻居吵架同归于尽，
   我们可不想那样") → no hit. "听说他要拿刀来找我" and "他说要砍我" stay threats.

Preparation and intent are threats as much as words: a weapon made ready
(刀都准备好了, 汽油买好了, 棍子就放在门口), taken up to go somewhere (就拿刀去他家
门口等着), people gathered (找好人了 明天去收拾他), what will be done (让他躺着出去).

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

# things to hurt someone with (longest first, so 菜刀 is taken before 刀)
_WEAPON = (r"菜刀|刀子|砍刀|斧头|斧子|匕首|棍子|铁棍|木棍|钢管|铁锹|砖头|板砖|汽油|硫酸|炸药|枪|刀")
_AFTER_INTENT = "(?:" + "|".join(f"(?<={w})" for w in ("就", "要", "非", "准备", "打算")) + ")"

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
    # preparation and intent: a weapon made ready, people gathered, a place to wait
    (rf"(?<![剪铅])(?:{_WEAPON})(?:我|我们)?(?:都|也|全)?(?:已经|早就|早|全)?(?:都)?"
     r"(?:准备|备|磨|买|带|藏|揣|找|弄)(?:好|齐)", 60, "violence"),
    (rf"(?:准备|备|磨|买|带|揣)(?:好|齐)了?(?:一把|几把|两把|一桶|两桶|几桶|一瓶|几瓶|一根|几根)?"
     rf"(?<![剪铅])(?:{_WEAPON})", 60, "violence"),
    (rf"(?<![剪铅])(?:{_WEAPON})(?:我|我们)?(?:就|都|早就|早|已经)(?:放|摆|藏|备|搁|别|揣)(?:在|着)",
     60, "violence"),
    # 就拿刀, 要带上棍子 (the intent word before, kept out of the phrase)
    (_AFTER_INTENT + rf"(?:去)?(?:拿|提|带|抄|掏|拎|揣)(?:着|起|上|了)?(?:一把|把)?(?<![剪铅])(?:{_WEAPON})",
     60, "violence"),
    (rf"(?:拿|提|带|抄|掏|拎|揣)(?:着|起|上|了)?(?:一把|把)?(?<![剪铅])(?:{_WEAPON})"
     rf"[^，。]{{0,4}}?(?:去|到|上|来)(?:{_P})?(?:家)?(?:门口|楼下|单位|店)?(?:等|堵|守|找)", 60, "violence"),
    (rf"(?:让|叫){_P}(?:躺着|横着|爬着|抬着)(?:出去|回去|出门|离开|走)|(?:躺着|横着|爬着)出去",
     60, "violence"),
    (r"(?:找|叫|喊|约)(?:好|齐)了?(?:几个|一帮|一群|一些|些)?(?:人|兄弟|帮手)(?:了)?"
     r"(?=[^，。]{0,12}?(?:收拾|教训|打|揍|算账|堵|砸|弄|好看))", 60, "violence"),
    (rf"(?:去|来|要|就|非|得)(?:好好)?(?:收拾|教训)(?:一下|一顿)?{_P}" + _NOT_A_PERSON_AFTER, 50, "violence"),
    (rf"把{_P}(?:给)?(?:砍|捅|刺)(?:了|伤)", 60, "violence"),
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
# a story told about other people: news, television, hearsay ("听说", not "听见")
_STORY = re.compile(r"新闻|电视|报纸|报道|网上|网络上|视频里|抖音|快手|微博|朋友圈|电影|电视剧|小说"
                    r"|听说|据说|听人说|听别人说|听人讲|传言|传说|案例|有个案子")
# someone in this dispute: the resident, the other party ("他说要砍我" is no story)
_PARTY = re.compile(r"我|咱|俺|他|她|你|对方|那家人|这家人")
# the resident turns away from it: "我们可不想那样", "可别闹成那样"
_REJECTED = re.compile(
    r"(?:不想|不愿|不希望|不要|别|可别|千万别|千万不要)(?:我们|咱们|咱|我|也)?(?:也)?"
    r"(?:那样|变成|闹成|闹到|走到|落到|发生|搞成|弄成)|引以为戒")
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


def _is_story(lead: str, clause: str, before: str, rest: str, kind: str) -> bool:
    """Violence in a story about others (news, hearsay) or one the resident rejects.

    ``lead`` is the sentence before the clause, ``before`` the clause before the
    match, ``rest`` the text after the clause (its sentence and the next one).
    Only when nobody in this dispute (我, 他, 对方…) is named from the story's
    cue on: "听说他要拿刀来找我" stays a threat. A rejection without a story
    cue clears violence only: "活着没意思，不想那样过下去" is still self-harm.
    """
    told = lead + before
    cues = list(_STORY.finditer(told))
    if cues:
        return not _PARTY.search((lead + clause)[cues[-1].end():])  # lead + before prefixes it
    return kind == "violence" and not _PARTY.search(clause) and bool(_REJECTED.search(rest))


def _clause_hits(clause: str, lead: str = "", rest: str = "") -> list[ThreatHit]:
    hits: list[ThreatHit] = []
    taken: list[tuple[int, int]] = []
    for pattern, points, kind in _COMPILED:
        for m in pattern.finditer(clause):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue  # inside a stronger match already made (patterns run strongest first)
            taken.append((m.start(), m.end()))
            before, after = clause[: m.start()], clause[m.end():]
            if _is_negated(before) or _is_story(lead, clause, before, rest, kind):
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
        clauses = _clauses(sentence)
        for j, clause in enumerate(clauses):
            lead, rest = "".join(clauses[:j]), "".join(clauses[j + 1:]) + following
            for hit in _clause_hits(clause, lead, rest):
                kept = found.get(hit.phrase)
                if kept is None or hit.points > kept.points:
                    found[hit.phrase] = hit
    return tuple(found.values())


def strongest(hits: tuple[ThreatHit, ...]) -> ThreatHit | None:
    """The hit with the most points (the first such), or None."""
    return max(hits, key=lambda h: h.points, default=None)
