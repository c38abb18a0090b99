"""The member app in a real browser, two members at once (each in a browser context of their own;
on PostgreSQL + Redis each on another `hubwire serve` instance): a post appears live with its
comment count moving, reactions and typing arrive, a direct message raises the unread badge and
reading it clears it (with a read receipt), a network drop loses nothing and shows nothing twice,
Server-Sent Events take over when WebSockets are blocked, and a magic link signs in without leaving
its token in the address bar."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import expect

from tests.support.realtime import start_server, stop_server
from tests.support.web import (
    PHONE,
    CuttableProxy,
    make_web_world,
    member_page,
    no_page_errors,
    wait_for_file,
    watch,
)

LIVE = 10_000  # ms a live update may take to show (a bound for a poll, not a measurement)


async def open_space(page: Any) -> None:
    await page.get_by_role("link", name=re.compile("^General")).click()
    await expect(page.get_by_role("heading", name="General")).to_be_visible()


async def post_discussion(page: Any, title: str, body: str) -> None:
    await page.get_by_text("Start a discussion").click()
    await page.get_by_role("textbox", name="Title", exact=True).fill(title)
    await page.get_by_role("textbox", name="What do you want to say?", exact=True).fill(body)
    await page.get_by_role("button", name="Post").click()


async def test_a_post_appears_live_and_its_comment_count_moves(web_cluster, browser, pages):
    world = await make_web_world(web_cluster.a.base, "Ada", "Bob")
    ada = await member_page(browser, web_cluster.a.base, world, world.members["Ada"])
    bob = await member_page(browser, web_cluster.b.base, world, world.members["Bob"])
    pages += [ada, bob]
    await open_space(ada)
    await open_space(bob)

    await post_discussion(ada, "Glaze recipes", "Three glazes that worked for me")
    item = bob.locator("li.discussion", has_text="Glaze recipes")
    await expect(item).to_be_visible(timeout=LIVE)  # no reload
    await expect(item.locator(".who")).to_have_text("Ada")
    await expect(item.locator(".comment-count")).to_have_text("💬 0")

    await ada.get_by_role("link", name="Glaze recipes").click()
    await ada.get_by_role("textbox", name="Add a comment", exact=True).fill("The celadon one is my favourite")
    await ada.get_by_role("button", name="Comment").click()
    await expect(ada.locator("li.comment", has_text="celadon")).to_be_visible()
    await expect(item.locator(".comment-count")).to_have_text("💬 1", timeout=LIVE)
    await expect(bob.locator("li.discussion")).to_have_count(1)
    no_page_errors(ada, bob)


async def test_reactions_and_typing_arrive_live(web_cluster, browser, pages, artifacts):
    world = await make_web_world(web_cluster.a.base, "Ada", "Bob")
    ada_m, bob_m = world.members["Ada"], world.members["Bob"]
    d = await world.member_api(ada_m, "POST", f"/spaces/{world.space_id}/discussions",
                               {"data": {"type": "discussions", "attributes": {
                                   "title": "Show your first bowl", "body": "Photos welcome, wobbly ones too."}}})
    disc = d["data"]["id"]
    await world.member_api(bob_m, "POST", f"/discussions/{disc}/comments",
                           {"data": {"type": "comments", "attributes": {"body": "Mine leans left!"}}})
    ada = await member_page(browser, web_cluster.a.base, world, ada_m, path=f"#/discussions/{disc}")
    bob = await member_page(browser, web_cluster.b.base, world, bob_m, path=f"#/discussions/{disc}")
    pages += [ada, bob]
    await expect(bob.get_by_role("heading", name="Show your first bowl")).to_be_visible()

    await bob.get_by_role("textbox", name="Add a comment", exact=True).press_sequentially("Here is mine")
    await expect(ada.locator(".typing")).to_have_text("Bob is typing…", timeout=LIVE)
    await expect(bob.locator(".typing")).to_have_text("")  # one's own typing is not shown

    await ada.locator(".discussion-head .reaction[data-emoji='👍']").click()
    await expect(ada.locator(".discussion-head .reaction[data-emoji='👍']")).to_have_attribute("aria-pressed", "true")
    bob_thumb = bob.locator(".discussion-head .reaction[data-emoji='👍']")
    await expect(bob_thumb.locator(".count")).to_have_text("1", timeout=LIVE)
    await expect(bob_thumb).to_have_attribute("aria-pressed", "false")
    await bob.locator("li.comment .reaction[data-emoji='🎉']").click()
    await expect(ada.locator("li.comment .reaction[data-emoji='🎉'] .count")).to_have_text("1", timeout=LIVE)

    await bob.get_by_role("button", name="Comment").click()
    await expect(ada.locator("li.comment", has_text="Here is mine")).to_be_visible(timeout=LIVE)
    await expect(ada.locator(".typing")).to_have_text("")  # the comment ends the typing

    # a threaded reply lands under its parent, live
    first = ada.locator("li.comment", has_text="Mine leans left!").first
    await first.get_by_role("button", name="Reply").first.click()
    await ada.get_by_role("textbox", name="Your reply").fill("Leaning is a style!")
    await ada.get_by_role("form", name="Reply").get_by_role("button", name="Reply").click()
    reply = bob.locator("li.comment", has_text="Mine leans left!").locator("ol.replies > li.comment")
    await expect(reply).to_have_text(re.compile("Leaning is a style!"), timeout=LIVE)
    await ada.screenshot(path=str(artifacts / "member-app.png"), full_page=True)
    no_page_errors(ada, bob)


async def test_a_direct_message_raises_the_badge_and_reading_clears_it(web_cluster, browser, pages):
    world = await make_web_world(web_cluster.a.base, "Ada", "Bob")
    ada = await member_page(browser, web_cluster.a.base, world, world.members["Ada"], path="#/members")
    bob = await member_page(browser, web_cluster.b.base, world, world.members["Bob"])
    pages += [ada, bob]
    badge = bob.locator("#dm-badge")
    await expect(badge).to_be_hidden()

    await ada.locator("li.member", has_text="Bob").get_by_role("button", name="Message").click()
    await ada.get_by_role("textbox", name="Message", exact=True).fill("Loved your teapot, where do you fire?")
    await ada.get_by_role("button", name="Send").click()
    await expect(badge).to_have_text("1", timeout=LIVE)  # a first message: the conversation was new to Bob
    await ada.get_by_role("textbox", name="Message", exact=True).fill("And which clay?")
    await ada.get_by_role("textbox", name="Message", exact=True).press("Enter")
    await expect(badge).to_have_text("2", timeout=LIVE)
    await expect(ada.locator(".receipt")).to_have_text("Sent")

    await bob.get_by_role("link", name=re.compile("^Messages")).click()
    await expect(bob.locator("li.conversation .badge")).to_have_text("2")
    await bob.locator("li.conversation a").click()
    await expect(bob.locator("li.message")).to_have_count(2)
    await expect(badge).to_be_hidden(timeout=LIVE)
    await expect(ada.locator(".receipt")).to_have_text("Seen by Bob", timeout=LIVE)

    await ada.get_by_role("textbox", name="Message", exact=True).fill("See you Thursday")
    await ada.get_by_role("button", name="Send").click()
    await expect(bob.locator("li.message", has_text="See you Thursday")).to_be_visible(timeout=LIVE)
    await expect(badge).to_be_hidden()  # read as it arrives: Bob is looking at it
    await expect(ada.locator(".receipt")).to_have_text("Seen by Bob", timeout=LIVE)
    no_page_errors(ada, bob)


async def test_a_dropped_network_loses_nothing_and_shows_nothing_twice(web_cluster, browser, pages):
    world = await make_web_world(web_cluster.a.base, "Ada", "Bob")
    ada_m, bob_m = world.members["Ada"], world.members["Bob"]
    conv = (await world.member_api(ada_m, "POST", "/conversations", {"data": {"type": "conversations", "attributes": {
        "participant_ids": [bob_m.contact_id]}}}))["data"]["id"]
    await world.member_api(ada_m, "POST", f"/conversations/{conv}/messages",
                           {"data": {"type": "messages", "attributes": {"body": "before the drop"}}})
    proxy = await CuttableProxy(web_cluster.b.port).start()  # Bob reaches the server through it
    try:
        ada = await member_page(browser, web_cluster.a.base, world, ada_m, path=f"#/messages/{conv}")
        bob = await member_page(browser, proxy.base, world, bob_m, path=f"#/messages/{conv}")
        pages += [ada, bob]
        await expect(bob.locator("li.message")).to_have_count(1)

        proxy.cut()
        await bob.locator("body[data-realtime='reconnecting']").wait_for()
        sent = ["while you were away 1", "while you were away 2", "while you were away 3"]
        for text in sent:
            await ada.get_by_role("textbox", name="Message", exact=True).fill(text)
            await ada.get_by_role("button", name="Send").click()
            await expect(ada.locator("li.message", has_text=text)).to_be_visible()
        await expect(bob.locator("li.message")).to_have_count(1)  # nothing reaches Bob meanwhile

        proxy.restore(web_cluster.a.port)  # back, on the other instance when there are two
        await bob.locator("body[data-realtime='open']").wait_for(timeout=30_000)
        await expect(bob.locator("li.message")).to_have_count(4, timeout=LIVE)
        texts = await bob.locator("li.message .pre").all_inner_texts()
        assert texts == ["before the drop", *sent]  # each once, in order
        await ada.get_by_role("textbox", name="Message", exact=True).fill("after")
        await ada.get_by_role("button", name="Send").click()
        await expect(bob.locator("li.message")).to_have_count(5, timeout=LIVE)
        assert (await bob.locator("li.message .pre").all_inner_texts())[-1] == "after"
        no_page_errors(ada, bob)
    finally:
        await proxy.stop()


async def test_server_sent_events_take_over_when_websockets_are_blocked(web_cluster, browser, pages):
    world = await make_web_world(web_cluster.a.base, "Ada", "Bob")
    ada = await member_page(browser, web_cluster.a.base, world, world.members["Ada"])
    # a proxy on the way that refuses WebSocket upgrades: every handshake fails, HTTP goes through
    blocked = ("const Real = window.WebSocket; window.WebSocket = class extends Real {"
               " constructor(url, protocols) { super(url.replace(/\\/ws$/, '/refused-upgrade'), protocols); } };")
    bob = await member_page(browser, web_cluster.b.base, world, world.members["Bob"], init_script=blocked)
    pages += [ada, bob]
    await expect(bob.locator("body")).to_have_attribute("data-transport", "sse")
    await open_space(ada)
    await open_space(bob)
    await post_discussion(ada, "Kiln schedule", "Firing on Friday")
    await expect(bob.locator("li.discussion", has_text="Kiln schedule")).to_be_visible(timeout=LIVE)
    no_page_errors(ada, bob)


async def test_a_magic_link_signs_in_and_leaves_no_token_in_the_address_bar(web_cluster, browser, pages):
    world = await make_web_world(web_cluster.a.base)
    context = await browser.new_context(viewport=PHONE)  # and on a phone-width screen
    page = await context.new_page()
    watch(page)
    pages.append(page)
    await page.goto(f"{web_cluster.a.base}/hubs/{world.slug}")
    await expect(page.get_by_role("heading", name="Sign in to Pottery Circle")).to_be_visible()
    email = f"newcomer-{world.slug}@example.test"
    await page.get_by_label("Email").fill(email)
    await page.get_by_role("button", name="Email me a sign-in link").click()
    await expect(page.get_by_text("Check " + email)).to_be_visible()

    mail = await wait_for_file(web_cluster.data_dir / "outbox", email)
    link = re.search(r"^(http\S+/login\?token=hw_ml_[\w-]+)$", mail, re.M).group(1)  # type: ignore[union-attr]
    assert link.startswith(f"{web_cluster.a.base}/hubs/{world.slug}/login?token=")
    response = await page.goto(link)
    assert response.headers["referrer-policy"] == "no-referrer"
    await expect(page.get_by_role("heading", name="Spaces")).to_be_visible()
    assert page.url == f"{web_cluster.a.base}/hubs/{world.slug}"
    assert "token" not in await page.evaluate("location.href + history.state")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing wider than the phone"
    # the link was single use: opening it again asks to sign in anew
    await page.evaluate("sessionStorage.clear(); localStorage.clear()")
    await page.goto(link)
    await expect(page.get_by_text("This sign-in link was already used")).to_be_visible()
    assert page.url == f"{web_cluster.a.base}/hubs/{world.slug}"
    no_page_errors(page)


async def test_spaces_show_unread_counts_presence_edits_and_why_a_space_is_locked(web_cluster, browser, pages):
    world = await make_web_world(web_cluster.a.base, "Ada", "Bob")
    ada_m, bob_m = world.members["Ada"], world.members["Bob"]
    staff = {**world.staff, "Content-Type": "application/vnd.api+json"}
    async with httpx.AsyncClient(base_url=world.base, timeout=10.0) as http:
        for name, level in (("Inner circle", "private"), ("Next term", "open")):
            r = await http.post(world.hub_url("/spaces"), headers=staff, json={"data": {"type": "spaces", "attributes": {
                "name": name, "access_level": level, "position": 5}}})
            assert r.status_code == 201, r.text
            if name == "Next term":  # opens on a date: the evaluator says when
                r = await http.post(world.hub_url("/access-rules"), headers=staff, json={"data": {
                    "type": "access_rules", "attributes": {"target_type": "space", "target_id": r.json()["data"]["id"],
                                                           "conditions": [{"condition_type": "available_after",
                                                                           "condition_data": {"at": "2099-09-01T09:00:00+00:00"}}]}}})
                assert r.status_code == 201, r.text
    ada = await member_page(browser, web_cluster.a.base, world, ada_m)
    bob = await member_page(browser, web_cluster.b.base, world, bob_m)
    pages += [ada, bob]
    await expect(ada.locator("#online-count")).to_have_text("● 2 online", timeout=LIVE)
    inner = ada.locator("li.space.locked", has_text="Inner circle")
    await expect(inner.locator(".lock-reason")).to_have_text("Members of this space only: a moderator can add you.")
    await expect(ada.locator("li.space.locked", has_text="Next term").locator(".lock-reason")).to_contain_text("Unlocks on")
    general = ada.locator("li.space", has_text="General")
    await expect(general.locator(".badge")).to_have_count(0)

    await open_space(bob)
    await post_discussion(bob, "Clay suppliers", "Who do you buy from?")
    await expect(general.locator(".badge")).to_have_text("1", timeout=LIVE)  # unread, live
    await post_discussion(bob, "Studio hours", "Open late on Thursdays")
    await expect(general.locator(".badge")).to_have_text("2", timeout=LIVE)
    await open_space(ada)  # reading the space clears it
    await expect(ada.locator("li.discussion")).to_have_count(2)
    await ada.get_by_role("link", name="← Spaces").click()
    await expect(general.locator(".badge")).to_have_count(0)

    # the author edits; the other member's feed follows
    await open_space(ada)
    await bob.get_by_role("link", name="Studio hours").click()
    await bob.locator(".discussion-head").get_by_role("button", name="Edit").click()
    await bob.get_by_role("textbox", name="Title").fill("Studio hours (updated)")
    await bob.get_by_role("button", name="Save").click()
    await expect(bob.get_by_role("heading", name="Studio hours (updated)")).to_be_visible()
    await expect(ada.locator("li.discussion", has_text="Studio hours (updated)")).to_be_visible(timeout=LIVE)
    no_page_errors(ada, bob)


async def test_a_restarted_server_is_resumed_or_refetched(web_cluster, browser, pages, tmp_path):
    """Bob's server restarts while Ada writes to him through another: on the embedded default the
    restarted process lost its history (`recovered: false`: the app refetches); with Redis the
    history survives (`recovered: true`: replayed). Either way the message shows, once."""
    world = await make_web_world(web_cluster.a.base, "Ada", "Bob")
    ada_m, bob_m = world.members["Ada"], world.members["Bob"]
    conv = (await world.member_api(ada_m, "POST", "/conversations", {"data": {"type": "conversations", "attributes": {
        "participant_ids": [bob_m.contact_id]}}}))["data"]["id"]
    own = start_server(tmp_path, web_cluster.database_url, web_cluster.redis_prefix, "own")
    try:
        bob = await member_page(browser, own.base, world, bob_m, path=f"#/messages/{conv}")
        pages.append(bob)
        await expect(bob.get_by_role("heading", name="With Ada")).to_be_visible()
        port = own.port
        stop_server(own)
        await bob.locator("body[data-realtime='reconnecting']").wait_for()
        await world.member_api(ada_m, "POST", f"/conversations/{conv}/messages",
                               {"data": {"type": "messages", "attributes": {"body": "while the server was away"}}})
        own = start_server(tmp_path, web_cluster.database_url, web_cluster.redis_prefix, "own-again", port=port)
        await bob.locator("body[data-realtime='open']").wait_for(timeout=30_000)
        await expect(bob.locator("li.message")).to_have_count(1, timeout=LIVE)
        await expect(bob.locator("li.message .pre")).to_have_text("while the server was away")
        await world.member_api(ada_m, "POST", f"/conversations/{conv}/messages",
                               {"data": {"type": "messages", "attributes": {"body": "and live again"}}}, base=own.base)
        await expect(bob.locator("li.message")).to_have_count(2, timeout=LIVE)
        assert await bob.locator("li.message .pre").all_inner_texts() == ["while the server was away", "and live again"]
        no_page_errors(bob)
    finally:
        stop_server(own)
