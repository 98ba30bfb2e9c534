"""Threats of violence in free text: found when meant, not when negated, feared, joked or idiomatic."""

from __future__ import annotations

import pytest

from integrations.workorders.domain.threats import WORRY_POINTS, find_threats, strongest


def kinds(text):
    return {h.kind for h in find_threats(text)}


def threat(text):
    hit = strongest(find_threats(text))
    return hit if hit is not None and hit.kind != "worry" else None


@pytest.mark.parametrize("text, phrase", [
    ("这次我一定要弄死他", "要弄死他"),
    ("邻居天天吵，我跟他拼了", "跟他拼了"),
    ("大不了同归于尽", "同归于尽"),
    ("他拿刀站在门口骂人", "拿刀"),
    ("他提着菜刀上门了", "提着菜刀"),
    ("再吵我就拿刀上去", "拿刀"),
    ("他说要砍我", "砍我"),
    ("我要砍死他", "要砍死他"),
    ("我要烧他家", "烧他家"),
    ("信不信我放火", "放火"),
    ("我打死他", "打死他"),
    ("我要把他弄残", "把他弄残"),
    ("你再敢来我就打断你的腿", "打断你的腿"),
    ("我恨不得杀了他", "杀了他"),
    ("他说要杀我全家", "杀我"),
    ("小心我弄死你", "弄死你"),
    ("他說要殺了我", "杀了我"),  # traditional characters
    ("他動手打人了", "动手打"),
    ("我被他打伤了", "被他打伤"),
    ("要是再不处理我就砍他", "砍他"),  # a conditional threat is a threat
    ("我没想打他但他说要砍我", "砍我"),  # the negation does not reach past 但
    ("他说要弄死我，我觉得不是开玩笑", "要弄死我"),
    ("我不怕他，大不了跟他拼了", "跟他拼了"),
    ("楼上又在闹，我就要和他们拼命", "和他们拼命"),
    ("物业再不管，我就跟物业拼了", "跟物业拼了"),
    ("我要你的命", "要你的命"),
    ("我很害怕他说要砍我", "砍我"),  # what he said, reported: not a worry
    ("对方拿砖头砸了我家窗户", "拿砖头"),
    ("喂 那个 我 楼下 有 个 男 的 拿 着 铁棍 在 砸 车 说 要 弄 死 他 老婆", "要弄死他"),
    ("有個男的拿著球棒在社區大門口亂揮，說要殺了他前女友", "杀了他"),
])
def test_explicit_threats_are_found(text, phrase):
    hit = threat(text)
    assert hit is not None, text
    assert hit.phrase == phrase
    assert hit.points >= 50 and hit.kind == "violence"
    assert phrase in hit.snippet


@pytest.mark.parametrize("text, points", [
    ("你等着，我让他好看", 40),
    ("他说有他好看的", 40),
    ("你给我等着", 30),
    ("他扬言要报复", 20),
    ("他是在报复我", 40),
    ("他天天打老婆", 40),
    ("他打我家孩子", 40),
    ("他家暴", 50),
    ("两家因为宅基地吵得不可开交，差点动起手来", 40),
    ("半夜砸门", 30),
    ("差点打起来", 40),
])
def test_vaguer_menaces_count_less(text, points):
    hit = threat(text)
    assert hit is not None and hit.points == points


@pytest.mark.parametrize("text", ["我不想活了", "活着没意思，死了算了", "他说要跳楼", "她说要喝农药",
                                  "我死给他看", "老人说活着没意思"])
def test_self_harm_is_a_risk_too(text):
    hit = threat(text)
    assert hit is not None and hit.kind == "self_harm" and hit.points == 60


@pytest.mark.parametrize("text", [
    "我没想打他", "我不会动手", "我不至于拿刀", "我才不会跟他拼命", "他没说要砍我",
    "我从来没打过他", "我不会去打他的", "你别打他",
])
def test_negations_are_not_threats(text):
    assert find_threats(text) == ()


@pytest.mark.parametrize("text", [
    "万一他动手怎么办", "万一他动手了怎么办", "怕他会打人", "我担心出事", "我怕他报复",
    "我怕他拿刀", "要是他打人怎么办", "他会不会拿刀砍人", "就怕闹出人命", "我很害怕他会砍我",
    "他可能会拿刀", "真要打起来怎么办",
])
def test_worries_give_a_small_signal_only(text):
    hits = find_threats(text)
    assert len(hits) == 1 and hits[0].kind == "worry" and hits[0].points == WORRY_POINTS
    assert threat(text) is None


@pytest.mark.parametrize("text", [
    "开玩笑的，我要弄死他", "我说要弄死他，开玩笑的", "跟他拼了！说着玩的", "打死你，逗你玩呢",
    "那是气话，不会真跟他拼了",
])
def test_jokes_are_not_threats(text):
    assert find_threats(text) == ()


@pytest.mark.parametrize("text", [
    # ordinary dispute and incident reports that merely look violent
    "楼上砍树太吵", "邻居砍了我家的树", "砍价的时候吵起来了", "我拿刀切菜的时候楼上漏水",
    "他拿刀砍柴", "拿着剪刀剪树枝", "楼下烧烤摊油烟很大", "小区门口有人烧纸", "村里有人烧秸秆",
    "我们拼车上班", "物业拼命推卸责任", "昨晚打死好多蚊子", "打死我也不信他", "打他电话没人接",
    "打他们家的电话也不接", "楼上装修吵死了", "吵得要命", "气死我了", "跳楼价甩卖",
    "小孩在楼梯跳楼梯", "医生说要动手术", "我自己动手修好了", "他家狗咬人", "帮我弄一下我家水管",
    "收拾一下他的东西", "电线老化威胁居民安全", "楼上掉东西砸坏了我的车", "我要打人工客服",
    "他们在家里杀鸡", "窗户漏风冷死人了", "噪音大得要死", "消防通道被堵了", "防火门坏了",
    "拖欠工资三个月，工人在讨薪", "楼上每天晚上拍球，吵得睡不着", "空调外机滴水到我家窗台",
    "他砍了我家围墙边的树", "这噪音要了我的老命", "跟朋友拼了一辆车", "房东威胁要扣押金",
    "物业威胁停水停电", "让他好好看看合同", "他家打麻将吵到半夜", "他家的狗把我家鸡咬死了",
    "楼上把我家花弄死了", "我打他手机也不接", "磨刀的声音太吵", "天天加班累死了",
    "打我儿子电话吧13607254419", "我拿木棍打开了电线", "他说再啰嗦就让我好看，嘴上说说的",
    # spoken text comes word by word: the spaces do not cut the negation off
    "喂 我 跟 楼下 那 家 吵 了 一 架 他 骂 得 可 难听 了 没 动手 我 想 找 调解员",
    "我 老公 在 外地 打工 电话 也 很 少 打 孩子 都 快 不 认识 他 了",
])
def test_ordinary_reports_do_not_hit(text):
    assert find_threats(text) == (), [(h.phrase, h.kind) for h in find_threats(text)]


def test_clauses_are_judged_on_their_own():
    hits = find_threats("我不想打他，怕他会打人。他昨天说要砍我！")
    assert [(h.phrase, h.kind) for h in hits] == [("打人", "worry"), ("砍我", "violence")]
    assert hits[1].snippet == "他昨天说要砍我"


def test_the_same_phrase_counts_once_with_its_strongest_reading():
    hits = find_threats("怕他打人。他打人了！")
    assert [(h.phrase, h.kind) for h in hits] == [("打人", "worry"), ("打人了", "violence")]
    assert len(find_threats("我要弄死他！我要弄死他！")) == 1


def test_several_threats_in_one_text():
    hits = find_threats("他拿刀说要砍死我，还说要烧我家")
    assert {h.phrase for h in hits} == {"拿刀", "要砍死我", "烧我家"}
    assert kinds("他拿刀说要砍死我") == {"violence"}
    assert find_threats("") == () and find_threats("，。！") == ()


@pytest.mark.parametrize("text", [
    # news, television, the internet: a story about other people
    "上次看了个新闻说邻居吵架同归于尽，我们可不想那样。",
    "电视上说有人为停车位动了刀，我们可别闹成那样",
    "网上看到有人因为漏水把楼下捅伤了，太可怕了",
    "前几天报纸报道外地有两家为宅基地打死人了",
    # hearsay about somebody else, not about this dispute's parties
    "听说隔壁小区有人因为噪音把人砍了，太吓人了",
    "据说以前这里有人为了车位动过刀",
    # violence the resident names only to turn away from it
    "邻居吵到最后同归于尽，我们可不想闹到那一步",
    "为这点事拼命不值得，千万别闹成那样",
])
def test_stories_about_others_and_rejected_outcomes_are_not_threats(text):
    assert threat(text) is None, [(h.phrase, h.kind) for h in find_threats(text)]


@pytest.mark.parametrize("text, phrase", [
    # the dispute's own parties named after the cue: still a threat
    ("他在朋友圈说要砍我", "砍我"),
    ("听说他要拿刀来找我", "拿刀"),
    ("听说对方扬言要弄死我们", "要弄死我"),
    ("我看新闻也学会了，大不了跟他拼了", "跟他拼了"),
    # a neighbour's account of what is happening now is no story
    ("隔壁两家又吵起来了，有一家说要烧了对方的房子，很吓人。", "烧了对方的房子"),
    ("他们两家打起来了，有人喊着要同归于尽。", "同归于尽"),
])
def test_threats_told_about_this_dispute_stay_threats(text, phrase):
    hit = threat(text)
    assert hit is not None and hit.phrase == phrase and hit.points >= 50, text


@pytest.mark.parametrize("text", [
    "不是开玩笑，我真会动手", "再这样我就跟他拼了", "他说要砍我",
])
def test_plain_threats_still_hit(text):
    assert threat(text) is not None


@pytest.mark.parametrize("text", [
    # a weapon made ready
    "我刀都准备好了，他再敢来试试。", "汽油都买好了", "菜刀我早就磨好了", "我已经准备好了一桶汽油",
    "棍子就放在门口", "钢管我都藏在床底下了",
    # taken up to go and wait for someone
    "今晚我就拿刀去他家门口等着。", "我明天就带着斧头去找他", "要拿刀上他家堵他",
    # what will be done to him
    "他敢再来我就让他躺着出去", "再来闹就叫他横着出去",
    # people gathered for it
    "我已经找好人了 明天去收拾他", "我叫齐了一帮兄弟去揍他",
])
def test_preparations_and_intent_are_threats(text):
    hit = threat(text)
    assert hit is not None, text
    assert hit.points >= 60 and hit.kind == "violence", (hit.phrase, hit.points)


@pytest.mark.parametrize("text", [
    "我已经找好人来修水管了", "买了把菜刀切菜", "他把钢管放在楼道里堵路", "剪刀准备好了，明天剪纸活动",
    "工具都准备好了，就等物业来修", "找好人了，明天来搬家", "汽车加满油了，明天回老家",
])
def test_ordinary_preparations_are_no_threats(text):
    assert find_threats(text) == (), [(h.phrase, h.kind) for h in find_threats(text)]


def test_a_rejection_does_not_clear_self_harm():
    assert kinds("活着没意思，真不想那样过下去") == {"self_harm"}
