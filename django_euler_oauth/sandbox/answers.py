"""Payloads in the shapes Euler's SDK (eulerapisdk 0.5.0) parses, with plausible numbers.

TikTok's own objects (users, images, analytics) have dozens of required members;
the builders here fill them all, with deterministic values derived from ids
(:func:`number`), so two calls about the same thing answer the same.
"""

from __future__ import annotations

import datetime
import hashlib
import time
from typing import Any

from .models import FakeAccount

EPOCH = 1767225600  # 2026-01-01T00:00:00Z: the fake past LIVE sessions start from here


def number(seed: str, low: int, high: int) -> int:
    """A number in ``low..high`` that only depends on ``seed``."""
    digest = hashlib.sha256(seed.encode()).digest()
    return low + int.from_bytes(digest[:4], "big") % (high - low + 1)


def now_ms() -> int:
    return int(time.time() * 1000)


def tiktok_route(data: Any, **extra: Any) -> dict[str, Any]:
    """TikTok's ``{data, extra: {now}, status_code: 0}`` answer as Euler relays it."""
    return {"data": data, "extra": {"now": now_ms(), **extra}, "status_code": 0}


def response(data: Any, **extra: Any) -> dict[str, Any]:
    """The moderation/analytics envelope member: ``response.data`` is TikTok's answer."""
    return {"response": {"data": tiktok_route(data, **extra)}}


# -- TikTok users --------------------------------------------------------------------

def viewer_name(user_id: str) -> str:
    return f"viewer{number(user_id, 1000, 9999)}"


def image(key: str) -> dict[str, Any]:
    url = f"https://example.invalid/avatars/{key}.webp"
    return {"avg_color": "#8A8A8A", "height": 100, "image_type": 0, "is_animated": False,
            "open_web_url": "", "uri": f"avatars/{key}", "url_list": [url], "width": 100}


_USER_FLAGS = (
    "allow_find_by_contacts allow_others_download_video "
    "allow_others_download_when_sharing_video allow_share_show_profile allow_show_in_gossip "
    "allow_show_my_action allow_strange_comment allow_unfollower_comment allow_use_linkmic "
    "fold_stranger_chat is_anchor_marked is_block is_follower is_following is_subscribe "
    "need_profile_guide push_comment_status push_digg push_follow push_friend_action "
    "push_ichat push_status push_video_post push_video_recommend verified "
    "with_car_management_permission with_commerce_permission with_fusion_shop_entry").split()
_USER_COUNTS = (
    "block_status comment_restrict disable_ichat enable_ichat_img exp fan_ticket_count "
    "follow_status ichat_restrict_type link_mic_stats pay_score pay_scores secret status "
    "ticket_count top_vip_no user_role").split()
_USER_TEXTS = ("bg_img_url bio_description constellation scm_label share_qrcode_uri "
               "special_id verified_content verified_reason").split()
_USER_LISTS = ("badge_image_list badge_list border_list commerce_webcast_config_ids "
               "media_badge_image_list mint_type_label new_real_time_icons real_time_icons "
               "top_fans upcoming_event_list").split()


def tiktok_user(user_id: str, nickname: str = "", *, sec_uid: str = "",
                unique_id: str = "", muted_for: int | None = None,
                is_admin: bool = False) -> dict[str, Any]:
    """A TikTok user object with every member the SDK's room user models require."""
    nickname = nickname or viewer_name(user_id)
    user: dict[str, Any] = dict.fromkeys(_USER_FLAGS, False)
    user.update(dict.fromkeys(_USER_COUNTS, 0))
    user.update(dict.fromkeys(_USER_TEXTS, ""))
    user.update({name: [] for name in _USER_LISTS})
    followers = number(user_id + ":followers", 0, 50_000)
    user.update({
        "id": int(user_id) if user_id.isdigit() else 0, "id_str": user_id,
        "display_id": unique_id or nickname.lower(), "nickname": nickname,
        "sec_uid": sec_uid or f"MS4wLjABAAAA-sandbox-{user_id}",
        "avatar_large": image(user_id), "avatar_thumb": image(user_id),
        "create_time": EPOCH - number(user_id + ":age", 10**6, 10**8),
        "modify_time": EPOCH,
        "enigma_info": {"is_enigma_mask_on": False},
        "follow_info": {"follow_status": 0, "follower_count": followers,
                        "following_count": number(user_id + ":following", 0, 2000),
                        "push_status": 0},
        "pay_grade": {**dict.fromkeys(("deprecated20", "deprecated22", "deprecated23",
                                       "deprecated24", "deprecated25", "deprecated26"), 0),
                      "grade_banner": "", "grade_describe": "", "grade_icon_list": [],
                      "level": number(user_id + ":level", 1, 50), "name": "", "next_name": "",
                      "next_privileges": "", "score": 0, "screen_chat_type": 0,
                      "upgrade_need_consume": 0},
        "user_attr": {"admin_permissions": {}, "has_voting_function": False,
                      "is_admin": is_admin, "is_channel_admin": False,
                      "is_muted": muted_for is not None, "is_super_admin": False,
                      "mute_duration": muted_for or 0},
    })
    return user


def account_user(account: FakeAccount) -> dict[str, Any]:
    return tiktok_user(account.uid, account.nickname, sec_uid=account.sec_uid,
                       unique_id=account.unique_id)


def moderator(user_id: str) -> dict[str, Any]:
    """An entry of the moderator list (WebcastRoomAdminListResponseAdmin)."""
    return {"admin_permissions": {}, "avatar_large": image(user_id),
            "avatar_thumb": image(user_id), "display_id": viewer_name(user_id),
            "id": int(user_id), "id_str": user_id, "nickname": viewer_name(user_id),
            "sec_uid": f"MS4wLjABAAAA-sandbox-{user_id}"}


# -- rankings -------------------------------------------------------------------------

def _next_midnight() -> datetime.datetime:
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time(),
                                     tzinfo=datetime.timezone.utc)


def region_rankings(region: str, rank_type: str) -> dict[str, Any]:
    resets_at = _next_midnight()
    ranks = []
    for i in range(10):
        uid = str(7_100_000_000_000_000_000 + number(f"{region}:{rank_type}:{i}", 1, 10**9))
        ranks.append({
            "rank": i + 1,
            "diamonds": number(f"{region}{i}", 1000, 100_000) * (10 - i),
            "diamonds_description": "",
            "room_id": str(7_300_000_000_000_000_000 + number(f"{uid}:room", 1, 10**9)),
            "user": {"following_count": number(uid + ":following", 0, 2000),
                     "follower_count": number(uid + ":followers", 1000, 10**6),
                     "nickname": f"Creator {region} {i + 1}", "numeric_id": uid,
                     "unique_id": f"creator_{region.lower()}_{i + 1}",
                     "avatar_thumb": image(uid)["url_list"]},
        })
    return {"attempts": 1, "ranks": ranks, "rank_title": f"{region} daily ranking",
            "rank_type": rank_type, "resets_at": resets_at.isoformat(),
            "resets_in": int((resets_at - datetime.datetime.now(datetime.timezone.utc))
                             .total_seconds())}


def room_rankings(room_id: str, moderators: set[str]) -> dict[str, Any]:
    ranks = []
    for i in range(5):
        uid = str(7_200_000_000_000_000_000 + number(f"{room_id}:viewer:{i}", 1, 10**9))
        ranks.append({"rank": i + 1, "score": number(f"{room_id}:{i}", 10, 5000) * (5 - i),
                      "user": {"numeric_id": uid, "unique_id": viewer_name(uid),
                               "nickname": viewer_name(uid),
                               "sec_uid": f"MS4wLjABAAAA-sandbox-{uid}",
                               "avatar_thumb": image(uid)["url_list"],
                               "follower_count": number(uid + ":followers", 0, 50_000),
                               "following_count": number(uid + ":following", 0, 2000),
                               "is_moderator": uid in moderators, "is_private": False}})
    return {"total": len(ranks), "ranks": ranks}


# -- earnings and gifts ---------------------------------------------------------------

def earnings(unique_id: str, account: FakeAccount | None) -> dict[str, Any]:
    resets_at = _next_midnight()
    diamonds = number(unique_id + ":diamonds", 0, 250_000)
    user: dict[str, Any] = {"unique_id": unique_id, "raw": {"_note": "sandbox data"}}
    if account is not None:
        user["user"] = {"unique_id": account.unique_id, "nickname": account.nickname,
                        "sec_uid": account.sec_uid, "numeric_uid": account.uid,
                        "avatar_url": account.avatar_url, "is_verified": False}
    return {"resets_in": int((resets_at - datetime.datetime.now(datetime.timezone.utc))
                             .total_seconds()),
            "resets_at": resets_at.isoformat(), "period": "daily", "diamonds": diamonds,
            # Creators keep about half a US cent per diamond.
            "earnings_estimate": round(diamonds * 0.005, 2),
            "earnings_estimate_currency": "USD", "user": user}


GIFTS = (("5655", "Rose", 1), ("5269", "TikTok", 1), ("5487", "Finger Heart", 5),
         ("5827", "Ice Cream Cone", 1), ("6064", "GG", 1), ("5879", "Doughnut", 30),
         ("6267", "Corgi", 299), ("5760", "Weights", 1), ("7934", "Heart Me", 1),
         ("6369", "Lion", 29999))


def gift_gallery(unique_id: str) -> dict[str, Any]:
    start = EPOCH + (number(unique_id, 0, 3) * 7 * 86400)
    gifts = []
    for gift_id, name, price in GIFTS:
        sent = number(f"{unique_id}:{gift_id}", 0, 40)
        goal = 30 if price < 100 else 3
        gifts.append({
            "unlighted_image_url": f"https://example.invalid/gifts/{gift_id}-grey.webp",
            "swapped": False, "sponsorship_require_count": goal, "sponsored": sent >= goal,
            "sponsor_rank": [],
            "sponsor_info": {"user_has_optout": False, "sponsor_id": "", "sent_count": sent,
                             "nickname": "", "last_send_time_sec": 0,
                             "became_sponsor_times": 0, "avatar_image": "",
                             "anchor_has_followed": False},
            "name": name, "is_sponsor": False,
            "image_url": f"https://example.invalid/gifts/{gift_id}.webp", "goal_count": goal,
            "gift_id": gift_id, "gallery_gift_tag_url": "", "gallery_gift_tag_type": 0,
            "current_sent_count": sent, "coin_price": price, "can_sponsor": True,
            "biz_extra": {}})
    return {"normal_gifts": gifts, "current_timestamp": int(time.time()),
            "current_period_starts_at": start, "current_period_ends_at": start + 7 * 86400,
            # The live spec types this member as an enum of JavaScript Number method
            # names (a generator slip); the SDK refuses anything else.
            "class_type": 0, "anchor_ranking_league": "toString"}


# -- analytics ------------------------------------------------------------------------

SESSIONS = 12  # past LIVE sessions per account


def past_sessions(account: FakeAccount) -> list[dict[str, Any]]:
    """The account's past LIVE sessions, newest first (WebcastLiveAnalyticsVideoList...)."""
    sessions = []
    for i in range(SESSIONS):
        room_id = str(7_310_000_000_000_000_000 + number(f"{account.uid}:session:{i}",
                                                           1, 10**12))
        start = EPOCH + (SESSIONS - i) * 3 * 86400 + number(room_id, 0, 40_000)
        duration = number(room_id + ":duration", 600, 4 * 3600)
        sessions.append({"cover": f"https://example.invalid/covers/{room_id}.webp",
                         "diamonds": number(room_id + ":diamonds", 0, 20_000),
                         "duration": duration, "end_time": start + duration,
                         "new_followers": number(room_id + ":followers", 0, 300),
                         "room_id": room_id, "start_time": start,
                         "title": f"{account.nickname} LIVE #{SESSIONS - i}",
                         "views": number(room_id + ":views", 50, 60_000)})
    return sessions


def _split(seed: str, total: int) -> tuple[int, int]:
    part = number(seed, 0, total) if total else 0
    return part, total - part


def video_detail(room_id: str) -> dict[str, Any]:
    """Analytics of one past session, every member derived from ``room_id``."""
    def n(name: str, low: int = 0, high: int = 10_000) -> int:
        return number(f"{room_id}:{name}", low, high)

    views, viewers, diamonds = n("views", 50, 60_000), n("viewers", 20, 20_000), n("diamonds")
    likes, comments, shares, follows = n("likes"), n("comments", 0, 3000), n("shares", 0, 500), \
        n("followers", 0, 300)
    watch, top, gifters, duration = n("watch", 5, 600), n("top", 5, 2000), n("gifters", 0, 400), \
        n("duration", 600, 4 * 3600)
    start = EPOCH + n("start", 0, 300 * 86400)
    details = {"gift_fan_tickets_percentage": 100, "multi_guest_fan_tickets_percentage": 0,
               "star_comment_fan_tickets_percentage": 0, "star_comment_qualification": False}
    follower_split = dict(zip(("follower", "non_follower"), _split("fv", viewers), strict=True))
    views_block = {"anchor_live_acu": top // 2, "average_watch_time": watch,
                   "top_viewer_count": top, "total_views": views, "unique_viewers": viewers}
    sources = dict(zip(("following", "live_recomm", "others", "share", "video_recomm"),
                       (views // 5, views // 2, views // 10, views // 20,
                        views - views // 5 - views // 2 - views // 10 - views // 20),
                       strict=True))
    return {
        "analytics": {
            "earnings": {"diamonds": diamonds, "diamonds_details": details, "gifters": gifters},
            "interaction": {"comment": comments, "likes": likes, "new_followers": follows,
                            "shares": shares},
            "views": views_block},
        "average_watch_time": {"follower": watch + 30, "non_follower": watch},
        "behavior_summary": {
            "cohost_summary": {"cohost_rank": [], "total_anchor": 0, "total_diamonds": 0,
                               "total_views": 0},
            "multi_guest_summary": {"multi_guest_rank": [], "multi_guest_show_type": 0,
                                    "total_diamonds": 0, "total_duration": 0,
                                    "total_guest": 0, "total_points": 0}},
        "comments_info": {"comment_cnt": comments, "entry_location": "", "show_entry": False,
                          "sub_title": "", "top_users": []},
        "cover_image_url": f"https://example.invalid/covers/{room_id}.webp",
        "detailed_metrics": {"commenter": follower_split, "gifters": follower_split,
                             "viewers": follower_split},
        "duration": duration, "end_time": start + duration, "is_first_live": False,
        "new_analytics": {
            "earnings": {"diamonds": diamonds, "diamonds_details": details, "last_diamonds": 0},
            "interaction": {"comment": comments, "gifters": gifters, "likes": likes,
                            "new_followers": follows, "shares": shares, "top_interaction": 0,
                            **dict.fromkeys(("last_comment", "last_gifters", "last_likes",
                                             "last_new_followers", "last_shares"), 0)},
            "views": {**views_block, "three_min_total_views": views // 3,
                      **dict.fromkeys(("last_anchor_live_acu", "last_average_watch_time",
                                       "last_three_min_total_views", "last_top_viewer_count",
                                       "last_total_views", "last_unique_viewers"), 0)}},
        "pause_duration": 0, "start_time": start, "title": f"LIVE {room_id[-4:]}",
        "traffic_info": {
            "total": {**sources, "video_recomm_info": {"total_views": sources["video_recomm"],
                                                       "video_info": []}},
            "traffic_conversion": {"gifters": gifters, "impression_viewers": views * 3,
                                   "unique_viewers": viewers}},
        "viewer_info": {
            "gift_rank": [],
            "viewer_portrait": {
                "viewers_age": [{"age_section": "18-24", "percent": 40},
                                {"age_section": "25-34", "percent": 35},
                                {"age_section": "35+", "percent": 25}],
                "viewers_gender": {"female_percent": n("female", 20, 80),
                                   "male_percent": 100 - n("female", 20, 80)},
                "viewers_region": {"others": 100, "top_viewers_region_list": []}},
            "watcher_rank": []},
        "views_by_setion": sources,  # [sic]: TikTok's spelling, which the SDK reads
    }


def user_interactions(room_id: str, user_id: str, anchor: FakeAccount,
                      comments: list[tuple[int, str, int]]) -> dict[str, Any]:
    """What one viewer did in a session; ``comments`` are (msg_id, content, time) rows."""
    seed = f"{room_id}:{user_id}"
    return {"anchor": account_user(anchor), "user": tiktok_user(user_id),
            "comment_count": len(comments),
            "comment_list": [{"content": content, "emotes": [], "event_time": at,
                              "msg_id": msg_id} for msg_id, content, at in comments],
            "follow_time": 0, "like_count": number(seed + ":likes", 0, 500),
            "share_count": number(seed + ":shares", 0, 5), "summary": "",
            "summary_type": 0, "watch_duration": number(seed + ":watch", 10, 3600)}
