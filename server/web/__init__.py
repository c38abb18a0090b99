"""The built-in web app: the staff dashboard and moderator console (``/``) and each hub's member
app (``/hubs/{slug}``), server-rendered shells (``templates/``) driving the public REST API and the
realtime protocol with small hand-written ES modules (``static/``). No build step; see routes.py."""
