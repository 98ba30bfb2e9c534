"""What the resident bot itself says (everything else comes from Rasa).

Short, polite Simplified Chinese; no personal data.
"""

GREETING = (
    "您好，这里是社区服务助手。邻里纠纷、设施损坏、安全隐患等问题，"
    "直接打字告诉我发生了什么、在哪里即可，也可以发照片或位置。"
    "查询进度请说“查一下我的工单”。"
)

HELP = GREETING

UNSUPPORTED_MEDIA = "抱歉，我暂时只能看懂文字、照片和位置。请用文字简单说一下您遇到的问题。"

VOICE_MESSAGE = "抱歉，暂时听不了语音消息。请打字告诉我，或者直接拨打社区服务电话。"

PHOTO_TOO_BIG = "这张图片太大了，请压缩后再发，或者直接用文字描述。"

PHOTO_FAILED = "照片暂时没能保存，请稍后再发一次。您也可以先用文字描述问题。"

TOO_FAST = "您发得有点快，请稍等几秒再发。"

BUSY_WILL_ANSWER = "您的消息已收到，系统有点忙，稍后回复您。"

EMPTY = "请用文字告诉我您遇到的问题。"

GAVE_UP = "抱歉，您之前发的消息未能处理，请再发一次。"
