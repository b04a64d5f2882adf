from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "ai"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing import rationale_hooks
        from exceptions import analysis_hooks
        from exceptions import stats as exception_stats
        from exceptions.automation import choosers

        from .billing_rationale import adjustment_reword
        from .dispatch import enqueue_analysis
        from .resolution import action_choose
        from .stats import ai_section

        # exceptions asks for analyses through its registry; it never imports ai.
        analysis_hooks.register("ai.analysis", enqueue_analysis)
        exception_stats.register("ai.usage", ai_section, rank=exception_stats.AI)
        # …and the choice among a playbook's actions through its chooser registry.
        choosers.register("ai.action_choice", action_choose)
        # …and billing asks for friendlier adjustment notes through its own registry.
        rationale_hooks.register("ai.billing_rationale", adjustment_reword)
