"""Rasa 3.6 broker events as the Pika event broker publishes them: each event's
``as_dict()`` (rasa.shared.core.events) with ``sender_id`` added, in tracker
order, with the timestamps Rasa gives (refreshed as each event is logged).

``Talk`` writes the events of one conversation the way the project's bot
produces them (rules in bot/data/rules.yml, actions in actions/), including the
resident's text and entities, so tests can check none of it is stored.
"""

from __future__ import annotations

from typing import Any

# what residents "say" in these conversations: none of it may reach the analytics tables
RESIDENT_TEXTS = ("楼下有人半夜吵架，吵得睡不着", "幸福小区3号楼", "13912345678", "张三",
                  "啊吧啊吧", "那个那个", "转人工")


class Talk:
    """The events of one sender, ``step`` seconds apart within a turn."""

    def __init__(self, sender_id: str, start: float, *, new_session: bool = True) -> None:
        self.sender_id = sender_id
        self.ts = start
        self.events: list[dict[str, Any]] = []
        if new_session:
            self.session_start()

    def _add(self, event: dict[str, Any], gap: float = 0.002) -> None:
        self.ts += gap
        self.events.append({"sender_id": self.sender_id, "event": event.pop("event"),
                            "timestamp": round(self.ts, 6), **event})

    def wait(self, seconds: float) -> Talk:
        self.ts += seconds
        return self

    # ------------------------------------------------------------------ events
    def action(self, name: str, policy: str | None = "RulePolicy",
               confidence: float | None = 1.0) -> Talk:
        self._add({"event": "action", "name": name, "policy": policy, "confidence": confidence,
                   "action_text": None, "hide_rule_turn": False})
        return self

    def slot(self, name: str, value: Any) -> Talk:
        self._add({"event": "slot", "name": name, "value": value})
        return self

    def loop(self, name: str | None) -> Talk:
        self._add({"event": "active_loop", "name": name})
        return self

    def bot(self, text: str, utter_action: str | None = None) -> Talk:
        metadata = {"utter_action": utter_action} if utter_action else {}
        self._add({"event": "bot", "metadata": metadata, "text": text,
                   "data": {"elements": None, "quick_replies": None, "buttons": None,
                            "attachment": None, "image": None, "custom": None}})
        return self

    def session_start(self) -> Talk:
        self.action("action_session_start", policy=None, confidence=None)
        self._add({"event": "session_started"})
        self.slot("session_started_metadata", None)
        self.action("action_listen", policy=None, confidence=None)
        return self

    def user(self, text: str, intent: str, confidence: float = 0.93,
             entities: list[dict[str, Any]] | None = None, gap: float = 8.0) -> Talk:
        entities = entities or []
        parse = {"intent": {"name": intent, "confidence": confidence},
                 "entities": entities, "text": text, "message_id": f"m{len(self.events)}",
                 "metadata": {}, "intent_ranking": [{"name": intent, "confidence": confidence}],
                 "response_selector": {}}
        self._add({"event": "user", "text": text, "parse_data": parse, "input_channel": "rest",
                   "message_id": f"m{len(self.events)}", "metadata": {}}, gap=gap)
        return self

    def listen(self) -> Talk:
        return self.action("action_listen")

    # ------------------------------------------------------------------ the bot's turns
    def start_report(self, text: str = RESIDENT_TEXTS[0], intent: str = "report_dispute") -> Talk:
        self.user(text, intent, entities=[{"entity": "location", "value": "3号楼", "start": 0,
                                           "end": 3, "extractor": "RegexEntityExtractor"}])
        self.action("action_start_report")
        self.slot("report_key", f"{self.sender_id}:abc").slot("category", "dispute.neighbour")
        self.slot("description", text)
        self.action("report_form").loop("report_form").slot("requested_slot", "danger")
        self.bot("请问现在有人受伤，或者有起火、燃气泄漏吗？")
        return self.listen()

    def answer(self, text: str, slot: str, value: Any, next_question: str | None,
               intent: str = "inform") -> Talk:
        """An answer the form takes; it asks ``next_question`` (None: the form is complete)."""
        self.user(text, intent)
        self.action("report_form").slot(slot, value).slot("requested_slot", next_question)
        if next_question is None:
            return self.loop(None)
        self.bot(f"请问{next_question}？")
        return self.listen()

    def submit(self, number: str) -> Talk:
        self.action("action_submit_report")
        self.bot(f"已为您登记，工单号 {number}。已安排人民调解员处理，预计12月9日18:00前办结，"
                 "有进展会在这里通知您。")
        for slot in ("description", "location", "community", "contact", "report_key"):
            self.slot(slot, None)
        self.slot("pending_reports", None)
        return self.listen()

    def submit_service_down(self) -> Talk:
        self.action("action_submit_report")
        self.bot("抱歉，系统暂时连不上，您的反映已经记下了，不会丢失。")
        self.slot("pending_reports", [{"key": "k"}])
        return self.listen()

    def not_understood(self, text: str = RESIDENT_TEXTS[4], *, handoff: bool = False,
                       intent: str = "nlu_fallback", in_form: bool = False,
                       form_takes_it: bool = False) -> Talk:
        self.user(text, intent, confidence=0.31)
        self.action("action_fallback")
        if not form_takes_it:
            self.bot("已请工作人员尽快联系您。" if handoff else "抱歉，我没太明白，能换个说法吗？")
        if in_form:
            self.action("report_form")
            if form_takes_it:
                self.slot("danger", True).slot("requested_slot", "location")
                self.bot("请问在哪里？")
        return self.listen()

    def ask_human(self, *, in_form: bool = False) -> Talk:
        self.user(RESIDENT_TEXTS[6], "request_human", confidence=0.99)
        self.action("action_handoff")
        self.bot("好的，已通知工作人员，会尽快联系您。")
        for slot in ("cancel_number", "requested_slot"):
            self.slot(slot, None)
        if in_form:
            self.action("action_deactivate_loop").loop(None)
        return self.listen()

    def greet(self) -> Talk:
        self.user("你好", "greet", confidence=0.99)
        self.action("action_greet").bot("您好！我是社区服务助手。")
        return self.listen()

    def goodbye_in_form(self) -> Talk:
        self.user("算了不报了", "goodbye")
        self.action("action_abort_report").bot("好的，这次反映先不提交了。有需要随时找我。")
        self.action("action_deactivate_loop").loop(None)
        return self.listen()


def completed_report(sender: str, start: float, number: str = "57401928") -> Talk:
    """A dispute reported start to finish: six questions, then the order number."""
    talk = Talk(sender, start).start_report()
    talk.answer("没有", "danger", False, "location", intent="deny")
    talk.answer(RESIDENT_TEXTS[1], "location", RESIDENT_TEXTS[1], "community")
    talk.answer("幸福社区", "community", "幸福社区", "contact")
    talk.answer(RESIDENT_TEXTS[2], "contact", "phone", "confirmed")
    talk.answer("对的", "confirmed", True, None, intent="affirm")
    return talk.submit(number)


def dropped_report(sender: str, start: float) -> Talk:
    """A report abandoned at the place question: two answers, then silence."""
    talk = Talk(sender, start).greet().start_report()
    talk.answer("没有", "danger", False, "location", intent="deny")
    return talk
