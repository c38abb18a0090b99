"""The staff app in a real browser, next to members in theirs (three browser contexts at once; on
PostgreSQL + Redis staff and members on different `hubwire serve` instances): a report reaches the
moderator's queue live and its removal disappears from both members' screens, a ban signs the
member out and tells them why, and the dashboard's counters move when someone signs up."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.support.web import make_web_world, member_page, no_page_errors, staff_page, wait_for_file, watch

LIVE = 10_000  # ms a live update may take to show (a bound for a poll, not a measurement)


async def test_a_moderator_removes_a_reported_post_from_both_members_screens(web_cluster, browser, pages, artifacts):
    world = await make_web_world(web_cluster.a.base, "Ada", "Bob")
    ada_m = world.members["Ada"]
    for title in ("Buy cheap kilns at spam.example", "Wheel or hand-building?"):
        await world.member_api(ada_m, "POST", f"/spaces/{world.space_id}/discussions",
                               {"data": {"type": "discussions", "attributes": {"title": title, "body": title}}})
    ada = await member_page(browser, web_cluster.a.base, world, ada_m, path=f"#/spaces/{world.space_id}")
    bob = await member_page(browser, web_cluster.b.base, world, world.members["Bob"], path=f"#/spaces/{world.space_id}")
    staff = await staff_page(browser, web_cluster.a.base, world)
    pages += [ada, bob, staff]
    await staff.get_by_role("link", name="Moderation").click()
    await expect(staff.get_by_role("heading", name="Moderation: Pottery Circle")).to_be_visible()
    await expect(staff.locator("#queue .empty")).to_be_visible()

    await bob.get_by_role("link", name="Buy cheap kilns at spam.example").click()
    await bob.locator(".discussion-head").get_by_role("button", name="Report").click()
    await bob.get_by_role("textbox", name="What is wrong?").fill("Spam link")
    await bob.get_by_role("button", name="Send report").click()
    await expect(bob.get_by_text("Thanks: a moderator will look at it.")).to_be_visible()
    await bob.get_by_role("link", name="← Back to the space").click()
    await expect(bob.locator("li.discussion")).to_have_count(2)

    entry = staff.locator("li.report-entry")
    await expect(entry).to_have_count(1, timeout=LIVE)  # the queue updates live
    await expect(entry.locator(".reported")).to_contain_text("Buy cheap kilns at spam.example")
    await expect(entry.locator(".reasons")).to_contain_text("Spam link")
    await expect(staff.locator("#mod-discussions li.discussion")).to_have_count(2)
    await expect(entry.locator(".who", has_text="a member")).to_have_count(0)
    await staff.screenshot(path=str(artifacts / "moderator-console.png"), full_page=True)

    await entry.get_by_role("textbox").fill("Spam")
    await entry.get_by_role("button", name="Remove").click()
    await expect(entry).to_have_count(0)
    for page in (ada, bob):  # gone from both members' screens, without a reload
        await expect(page.locator("li.discussion", has_text="spam.example")).to_have_count(0, timeout=LIVE)
        await expect(page.locator("li.discussion", has_text="Wheel or hand-building?")).to_be_visible()
    await expect(staff.locator("#audit li.audit-entry").first).to_contain_text("remove", timeout=LIVE)
    await expect(staff.locator("#mod-discussions li.discussion", has_text="spam.example").locator(".tag")).to_have_text("removed", timeout=LIVE)

    # and back: restored from the console, it reappears for the members
    await staff.locator("#mod-discussions li.discussion", has_text="spam.example").get_by_role("button", name="Restore").click()
    await expect(ada.locator("li.discussion", has_text="spam.example")).to_be_visible(timeout=LIVE)
    no_page_errors(ada, bob, staff)


async def test_a_ban_signs_the_member_out_and_says_why(web_cluster, browser, pages):
    world = await make_web_world(web_cluster.a.base, "Ada", "Bob")
    bob = await member_page(browser, web_cluster.b.base, world, world.members["Bob"], path=f"#/spaces/{world.space_id}")
    staff = await staff_page(browser, web_cluster.a.base, world)
    pages += [bob, staff]
    await staff.get_by_role("link", name="Hubs").click()
    await staff.locator("#main").get_by_role("link", name="Pottery Circle").click()
    row = staff.locator("li.member", has_text=world.members["Bob"].email)
    await row.get_by_role("button", name="Ban", exact=True).click()
    await row.get_by_role("textbox", name="Reason").fill("Repeated spam after a warning")
    await row.get_by_role("form").get_by_role("button", name="Ban", exact=True).click()
    await expect(row.locator(".tag", has_text="banned")).to_be_visible()

    banned = bob.get_by_role("alert").filter(has_text="You were banned from Pottery Circle")
    await expect(banned).to_be_visible(timeout=LIVE)
    await expect(banned).to_contain_text("Repeated spam after a warning")
    await expect(banned).to_contain_text("You have been signed out.")
    key = f"hubwire.member.{world.hub_id}"
    assert await bob.evaluate(f"sessionStorage.getItem('{key}') || localStorage.getItem('{key}')") is None
    await expect(bob.locator("#nav")).to_be_hidden()
    await bob.reload()
    await expect(bob.get_by_role("heading", name="Sign in to Pottery Circle")).to_be_visible()
    no_page_errors(bob, staff)


async def test_the_dashboard_counts_a_signup_live(web_cluster, browser, pages, artifacts):
    world = await make_web_world(web_cluster.a.base, "Ada")
    staff = await staff_page(browser, web_cluster.a.base, world)
    pages.append(staff)
    contacts = staff.locator("#counter-team_contacts .value")
    members = staff.locator("#counter-hub_members .value")
    await expect(contacts).to_have_text("1")
    await expect(members).to_have_text("1")

    context = await browser.new_context()
    newcomer = await context.new_page()
    watch(newcomer)
    pages.append(newcomer)
    await newcomer.goto(f"{web_cluster.b.base}/hubs/{world.slug}")
    email = f"newcomer-{world.slug}@example.test"
    await newcomer.get_by_label("Email").fill(email)
    await newcomer.get_by_role("button", name="Email me a sign-in link").click()
    mail = await wait_for_file(web_cluster.data_dir / "outbox", email)
    await newcomer.goto(re.search(r"^(http\S+/login\?token=\S+)$", mail, re.M).group(1))  # type: ignore[union-attr]
    await expect(newcomer.get_by_role("heading", name="Spaces")).to_be_visible()

    await expect(contacts).to_have_text("2", timeout=LIVE)  # the counters move without a reload
    await expect(members).to_have_text("2", timeout=LIVE)
    feed = staff.locator("#feed")
    await expect(feed.locator("li.contact-signed_up", has_text=email)).to_be_visible()
    await expect(feed.locator("li.member-joined", has_text=email)).to_be_visible(timeout=LIVE)
    await staff.reload()  # what REST says now is what the live counters said
    await expect(contacts).to_have_text("2")
    await expect(members).to_have_text("2")
    await expect(feed.locator(".who", has_text="a member")).to_have_count(0)  # every email looked up
    await staff.screenshot(path=str(artifacts / "team-dashboard.png"), full_page=True)
    no_page_errors(staff, newcomer)


async def test_a_creator_gets_from_nothing_to_a_working_community_without_curl(web_cluster, browser, pages):
    world = await make_web_world(web_cluster.a.base)
    staff = await staff_page(browser, web_cluster.a.base, world)
    pages.append(staff)
    await staff.get_by_role("link", name="Hubs").click()
    await staff.get_by_text("Create a hub").click()
    slug = f"studio-{world.slug}"
    await staff.get_by_role("textbox", name="Name").fill("Evening Studio")
    await staff.get_by_role("textbox", name="Slug").fill(slug)
    await staff.get_by_role("button", name="Create hub").click()
    await expect(staff.get_by_role("heading", name="Evening Studio")).to_be_visible()

    await staff.get_by_text("Create a space").click()
    await staff.get_by_role("textbox", name="Name").fill("Critique corner")
    await staff.get_by_role("button", name="Create space").click()
    await expect(staff.locator("#spaces")).to_contain_text("Critique corner")

    await staff.get_by_text("Add or invite a member").click()
    email = f"invitee-{world.slug}@example.test"
    await staff.get_by_role("textbox", name="Email").fill(email)
    await staff.get_by_role("button", name="Add member").click()
    await expect(staff.locator("li.member", has_text=email)).to_be_visible()

    mail = await wait_for_file(web_cluster.data_dir / "outbox", email)  # the invitation's sign-in link
    context = await browser.new_context()
    member = await context.new_page()
    watch(member)
    pages.append(member)
    await member.goto(re.search(r"^(http\S+/login\?token=\S+)$", mail, re.M).group(1))  # type: ignore[union-attr]
    await expect(member.get_by_role("heading", name="Spaces")).to_be_visible()
    await expect(member.locator("#hub-name")).to_have_text("Evening Studio")
    await member.get_by_role("link", name="Critique corner").click()
    await expect(member.get_by_role("heading", name="Critique corner")).to_be_visible()
    assert member.url.endswith(f"/hubs/{slug}#/spaces/" + member.url.rsplit("/", 1)[-1])
    no_page_errors(staff, member)
