app_name = "euler_sandbox"
urlpatterns: list = []
