"""Over the per-resident quota of staged photos: 409 with a polite Chinese reason."""

from __future__ import annotations

from tests.app.image_samples import png

UPLOAD = "/api/v1/attachments"


def upload(api, data: bytes, ref: str):
    return api.post("telegram", UPLOAD, params={"reporter_ref": ref}, content=data,
                    headers={"Content-Type": "image/png"})


def test_the_21st_staged_photo_is_refused_with_a_polite_reason(api):
    most = api.world.db.config.max_staged_photos
    for seed in range(most):
        assert upload(api, png(seed), "tg:7").status_code == 201
    refused = upload(api, png(most), "tg:7")
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "staged photos" in detail["reason"]
    assert detail["reason_zh"] == ("您已发送的照片较多，还没有提交。"
                                   "请先完成反映，或稍后再发送新照片，谢谢。")
    # the same photo again is answered as before; another resident is not affected
    assert upload(api, png(0), "tg:7").status_code == 200
    assert upload(api, png(most), "tg:8").status_code == 201
