"""The Telegram channel (aiogram 3): residents report and follow their orders; handlers get tickets.

Residents' messages are relayed to Rasa's REST channel as ``tg:<chat id>``;
handlers' buttons call the work-order service as the linked handler; status
changes reach both through the work-order outbox and the notifier's
``TelegramSender``. See ``app.py`` for how the parts fit.
"""
